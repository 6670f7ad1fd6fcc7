//! `Table`: rows kept in creation order with an id index.
//!
//! Lists in the API are in creation order, and derivations walk entities in that order, so
//! rows are keyed by a creation sequence number. The id → sequence index is derived and
//! rebuilt on load, so snapshots carry each row once and stay byte-identical across nodes.
//!
//! Both maps are persistent B-trees (`imbl::OrdMap`): a copy of a table shares every node
//! with it, and a write to either copies only the nodes on its path. So copying the state
//! (a snapshot being written, the agent hub's private copy of a network) costs nothing up
//! front and nothing later: with `std`'s B-trees, the first write after a copy of a
//! 250,000-peer network copied the whole network (about 200 ms, inside one apply).

use std::sync::Arc;

use imbl::OrdMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Something with a stable id.
pub trait Keyed {
    type Key: Ord + Copy;
    fn key(&self) -> Self::Key;
}

/// Rows are shared (`Arc`) and so are the trees holding them: cloning a table is O(1), and
/// a write while a copy is alive copies only the row it changes and its path in the trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table<V: Keyed> {
    rows: OrdMap<u64, Arc<V>>,
    index: OrdMap<V::Key, u64>,
}

impl<V: Keyed> Default for Table<V> {
    fn default() -> Self {
        Table {
            rows: OrdMap::new(),
            index: OrdMap::new(),
        }
    }
}

impl<V: Keyed + Clone> Table<V> {
    /// Inserts a new row at creation sequence `seq` (which must grow).
    pub fn insert(&mut self, seq: u64, row: V) {
        self.index.insert(row.key(), seq);
        self.rows.insert(seq, Arc::new(row));
    }

    pub fn get(&self, key: V::Key) -> Option<&V> {
        self.index
            .get(&key)
            .and_then(|s| self.rows.get(s))
            .map(|r| &**r)
    }

    /// The row to change in place (copied first if a copy of the table shares it).
    pub fn get_mut(&mut self, key: V::Key) -> Option<&mut V> {
        match self.index.get(&key) {
            Some(s) => self.rows.get_mut(s).map(Arc::make_mut),
            None => None,
        }
    }

    pub fn contains(&self, key: V::Key) -> bool {
        self.index.contains_key(&key)
    }

    pub fn remove(&mut self, key: V::Key) -> Option<V> {
        let seq = self.index.remove(&key)?;
        self.rows
            .remove(&seq)
            .map(|r| Arc::try_unwrap(r).unwrap_or_else(|shared| (*shared).clone()))
    }

    /// Rows in creation order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &V> + ExactSizeIterator {
        self.rows.values().map(|r| &**r)
    }

    /// Changes every row in creation order (a persistent tree has no mutable iterator).
    pub fn for_each_mut(&mut self, mut f: impl FnMut(&mut V)) {
        let _ = self.try_for_each_mut(|row| {
            f(row);
            Ok::<(), std::convert::Infallible>(())
        });
    }

    /// [`Table::for_each_mut`], stopping at the first error (rows before it stay changed:
    /// callers change a copy, or fail before anything else).
    pub fn try_for_each_mut<E>(
        &mut self,
        mut f: impl FnMut(&mut V) -> Result<(), E>,
    ) -> Result<(), E> {
        let seqs: Vec<u64> = self.rows.keys().copied().collect();
        for seq in seqs {
            if let Some(row) = self.rows.get_mut(&seq) {
                f(Arc::make_mut(row))?;
            }
        }
        Ok(())
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
        s.collect_seq(self.rows.iter().map(|(seq, row)| (seq, &**row)))
    }
}

impl<'de, V: Keyed + Clone + Deserialize<'de>> Deserialize<'de> for Table<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let rows: Vec<(u64, V)> = Vec::deserialize(d)?;
        let mut t = Table::default();
        let mut last: Option<u64> = None;
        for (seq, row) in rows {
            // Rows are written in sequence order, so anything else is not an encoding this
            // code wrote: a repeated sequence would silently drop a row, and rows out of
            // order would re-encode to other bytes than the ones read.
            match last {
                Some(prev) if seq == prev => {
                    return Err(D::Error::custom(format!(
                        "duplicate sequence number {seq} in table"
                    )))
                }
                Some(prev) if seq < prev => {
                    return Err(D::Error::custom(format!(
                        "table rows out of order: sequence {seq} after {prev}"
                    )))
                }
                _ => {}
            }
            last = Some(seq);
            if t.contains(row.key()) {
                return Err(D::Error::custom("duplicate id in table"));
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

impl<V: Keyed + PartialEq> Table<V> {
    /// The keys of the rows that differ between `self` and `other`: in one only, or changed,
    /// in creation order. Subtrees the two share (a copy of the same table) are skipped
    /// whole, so comparing a copy with the table a few writes later costs those writes.
    pub fn changed_keys(&self, other: &Table<V>) -> Vec<V::Key> {
        use imbl::ordmap::DiffItem;
        self.rows
            .diff(&other.rows)
            // `diff` reports an update only for rows that differ (a shared row compares by
            // pointer first).
            .map(|d| match d {
                DiffItem::Add(_, row) | DiffItem::Remove(_, row) => row.key(),
                DiffItem::Update { new: (_, row), .. } => row.key(),
            })
            .collect()
    }
}

impl<V: Keyed> Table<V> {
    /// The highest creation sequence of a row, if any.
    pub fn last_seq(&self) -> Option<u64> {
        self.rows.get_max().map(|(seq, _)| *seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    struct Row {
        id: u32,
    }

    impl Keyed for Row {
        type Key = u32;
        fn key(&self) -> u32 {
            self.id
        }
    }

    fn decode(rows: &[(u64, u32)]) -> Result<Table<Row>, String> {
        let rows: Vec<(u64, Row)> = rows.iter().map(|(s, id)| (*s, Row { id: *id })).collect();
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&rows, config).map_err(|e| e.to_string())?;
        bincode::serde::decode_from_slice::<Table<Row>, _>(&bytes, config)
            .map(|(t, _)| t)
            .map_err(|e| e.to_string())
    }

    #[derive(Debug, Clone, PartialEq, Eq)]
    struct Named {
        id: u32,
        name: &'static str,
    }

    impl Keyed for Named {
        type Key = u32;
        fn key(&self) -> u32 {
            self.id
        }
    }

    #[test]
    fn changed_keys_are_the_rows_added_removed_or_changed_on_either_side() {
        let mut a: Table<Named> = Table::default();
        for (seq, id) in [(1, 10), (2, 11), (3, 12), (4, 13)] {
            a.insert(seq, Named { id, name: "x" });
        }
        let mut b = a.clone();
        assert!(a.changed_keys(&b).is_empty());
        b.remove(11);
        b.get_mut(12).unwrap().name = "y";
        b.insert(5, Named { id: 14, name: "x" });
        let mut changed = a.changed_keys(&b);
        changed.sort_unstable();
        assert_eq!(changed, vec![11, 12, 14]);
        // Equal rows that are not shared are not changes.
        let mut c: Table<Named> = Table::default();
        for (seq, id) in [(1, 10), (2, 11), (3, 12), (4, 13)] {
            c.insert(seq, Named { id, name: "x" });
        }
        assert!(a.changed_keys(&c).is_empty());
        // The change a write made after the copy was taken is seen, the copy kept intact.
        assert_eq!(a.get(12).unwrap().name, "x");
    }

    #[test]
    fn rows_in_sequence_order_decode() {
        let t = decode(&[(1, 10), (4, 11), (9, 12)]).unwrap();
        assert_eq!(t.len(), 3);
        assert_eq!(t.last_seq(), Some(9));
        assert_eq!(t.get(11), Some(&Row { id: 11 }));
    }

    #[test]
    fn duplicate_ids_are_refused() {
        let err = decode(&[(1, 10), (2, 10)]).unwrap_err();
        assert!(err.contains("duplicate id"), "{err}");
    }

    #[test]
    fn duplicate_sequence_numbers_are_refused() {
        let err = decode(&[(1, 10), (1, 11)]).unwrap_err();
        assert!(err.contains("duplicate sequence number 1"), "{err}");
    }

    #[test]
    fn rows_out_of_order_are_refused() {
        let err = decode(&[(5, 10), (3, 11)]).unwrap_err();
        assert!(err.contains("out of order"), "{err}");
    }
}
