//! The api crate's integration tests, one binary: the request validation examples
//! (`requests`) and the property tests named after the properties they prove (`properties`).

mod properties;
mod requests;
