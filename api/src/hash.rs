//! The hash maps of the derivations (views, configs, rules, zones): a fixed, seedless fast
//! hasher. The derivations hash ids and prefixes, so SipHash's defence against chosen keys
//! buys nothing here, and a random seed would be the only randomness in the core. Rendering a
//! jump's configuration for 10,000 peers builds several such maps, hashing every peer id and
//! prefix of the network.

use std::collections::{HashMap, HashSet};

pub type FixedState = foldhash::fast::FixedState;
pub type FastMap<K, V> = HashMap<K, V, FixedState>;
pub type FastSet<T> = HashSet<T, FixedState>;
