//! Fault-injection harness for a real cluster. Not built yet (its own issue).
