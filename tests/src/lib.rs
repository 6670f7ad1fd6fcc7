//! Cross-crate integration tests (clusters, end-to-end). They arrive with the node issue.
