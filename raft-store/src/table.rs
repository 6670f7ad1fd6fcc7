//! `Table`: rows kept in creation order with an id index.
//!
//! Lists in the API are in creation order, and derivations walk entities in that order, so
//! rows are keyed by a creation sequence number. The id → sequence index is derived and
//! rebuilt on load, so snapshots carry each row once and stay byte-identical across nodes.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Something with a stable id.
pub trait Keyed {
    type Key: Ord + Copy;
    fn key(&self) -> Self::Key;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table<V: Keyed> {
    rows: BTreeMap<u64, V>,
    index: BTreeMap<V::Key, u64>,
}

impl<V: Keyed> Default for Table<V> {
    fn default() -> Self {
        Table {
            rows: BTreeMap::new(),
            index: BTreeMap::new(),
        }
    }
}

impl<V: Keyed> Table<V> {
    /// Inserts a new row at creation sequence `seq` (which must grow).
    pub fn insert(&mut self, seq: u64, row: V) {
        self.index.insert(row.key(), seq);
        self.rows.insert(seq, row);
    }

    pub fn get(&self, key: V::Key) -> Option<&V> {
        self.index.get(&key).and_then(|s| self.rows.get(s))
    }

    pub fn get_mut(&mut self, key: V::Key) -> Option<&mut V> {
        match self.index.get(&key) {
            Some(s) => self.rows.get_mut(s),
            None => None,
        }
    }

    pub fn contains(&self, key: V::Key) -> bool {
        self.index.contains_key(&key)
    }

    pub fn remove(&mut self, key: V::Key) -> Option<V> {
        let seq = self.index.remove(&key)?;
        self.rows.remove(&seq)
    }

    /// Rows in creation order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.rows.values()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.rows.values_mut()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl<V: Keyed + Serialize> Serialize for Table<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.rows.iter())
    }
}

impl<'de, V: Keyed + Deserialize<'de>> Deserialize<'de> for Table<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rows: Vec<(u64, V)> = Vec::deserialize(d)?;
        let mut t = Table::default();
        for (seq, row) in rows {
            if t.contains(row.key()) {
                return Err(serde::de::Error::custom("duplicate id in table"));
            }
            t.insert(seq, row);
        }
        Ok(t)
    }
}

macro_rules! keyed {
    ($($t:ty => $k:ty),* $(,)?) => {$(
        impl Keyed for $t {
            type Key = $k;
            fn key(&self) -> $k {
                self.id
            }
        }
    )*};
}

use raftwire_api::*;
keyed!(
    Peer => PeerId,
    Group => GroupId,
    Policy => PolicyId,
    Route => RouteId,
    DnsMapping => DnsMappingId,
);
