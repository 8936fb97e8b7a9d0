//! Elasticsearch: index names, ids, bulk encoding, response classification,
//! retries, templates and the writer stage.

pub mod bulk_request;
pub mod bulk_response;
pub mod client;
pub mod doc_id;
pub mod index_name;
pub mod retry;
pub mod templates;
pub mod writer;
