//! The one error type every port returns: a small closed kind plus context.

/// What went wrong, independent of the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    NotFound,
    Unavailable,
    Timeout,
    InvalidInput,
    /// The row exists already (a project id or login taken).
    Conflict,
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Internal => "internal",
        }
    }
}

/// An error from a store, naming the store and the operation.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{store} {operation}: {kind}: {message}", kind = .kind.as_str())]
pub struct StoreError {
    pub kind: ErrorKind,
    pub store: String,
    pub operation: String,
    pub message: String,
}

impl StoreError {
    pub fn new(kind: ErrorKind, store: &str, operation: &str, message: impl std::fmt::Display) -> Self {
        Self { kind, store: store.to_string(), operation: operation.to_string(), message: message.to_string() }
    }

    /// Whether trying again may succeed. Defaults to false for anything but
    /// unavailability and timeouts.
    pub fn retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Unavailable | ErrorKind::Timeout)
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
