//! Errors of the object store, carrying the operation, the store and the key.

/// What went wrong with one object-store call.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {store}/{key}: no such object")]
    NotFound {
        op: &'static str,
        store: String,
        key: String,
    },
    #[error("{op} {store}/{key}: {message}")]
    Failed {
        op: &'static str,
        store: String,
        key: String,
        message: String,
    },
    #[error("{store}: key {key:?} is not allowed ({why})")]
    BadKey {
        store: String,
        key: String,
        why: &'static str,
    },
}

impl StoreError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}
