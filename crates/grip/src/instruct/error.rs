//! Why an instruct was rejected. `Display` gives the exact message 1.36 puts
//! after `Failed to parse accept instructions: ` (`spec/grip.md` §3.2, §4), so
//! the handler can answer accept with `bad-format` and that text, and the
//! proxy can build the debug 502 body byte for byte.

use crate::header_list::HeadersError;

/// An instruct parse error (`Instruct::fromResponse` in 1.36).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstructError {
    /// `Grip-Hold` is neither `response` nor `stream`.
    #[error("Grip-Hold must be set to either 'response' or 'stream'")]
    InvalidHold,
    /// A `Grip-Channel` element parsed to nothing (kept for completeness; the
    /// 1.36 parser cannot actually produce it).
    #[error("failed to parse Grip-Channel")]
    GripChannel,
    /// `Grip-Timeout` is not an integer.
    #[error("failed to parse Grip-Timeout")]
    TimeoutParse,
    /// `Grip-Timeout` is negative.
    #[error("Grip-Timeout has invalid value")]
    TimeoutInvalid,
    /// `Grip-Keep-Alive` has an empty data item.
    #[error("Grip-Keep-Alive cannot be empty")]
    KeepAliveEmpty,
    /// `Grip-Keep-Alive` `mode=` is unknown.
    #[error("no such Grip-Keep-Alive mode '{mode}'")]
    KeepAliveMode {
        /// The mode as written.
        mode: String,
    },
    /// `Grip-Keep-Alive` `timeout=` is not an integer.
    #[error("failed to parse Grip-Keep-Alive timeout value")]
    KeepAliveTimeoutParse,
    /// `Grip-Keep-Alive` `timeout=` is negative.
    #[error("Grip-Keep-Alive timeout has invalid value")]
    KeepAliveTimeoutInvalid,
    /// `Grip-Keep-Alive` `format=` is unknown.
    #[error("no such Grip-Keep-Alive format '{format}'")]
    KeepAliveFormat {
        /// The format as written.
        format: String,
    },
    /// `Grip-Keep-Alive` data in `cstring` format does not decode.
    #[error("failed to parse Grip-Keep-Alive cstring format")]
    KeepAliveCstring,
    /// A `Grip-Set-Meta` element is empty.
    #[error("Grip-Set-Meta cannot be empty")]
    SetMetaEmpty,
    /// `Grip-Status` code is not an integer in 0..=999.
    #[error("Grip-Status contains invalid status code")]
    StatusInvalid,
    /// A `rel=next` `Grip-Link` value is not `<...>`.
    #[error("failed to parse Grip-Link value")]
    LinkValue,
    /// A `rel=next` `Grip-Link` URI is not a valid URI reference.
    #[error("Grip-Link contains invalid link")]
    LinkInvalid,
    /// A `rel=next` `Grip-Link` `timeout=` is not an integer.
    #[error("failed to parse Grip-Link timeout value")]
    LinkTimeoutParse,
    /// A `rel=next` `Grip-Link` `timeout=` is negative.
    #[error("Grip-Link timeout has invalid value")]
    LinkTimeoutInvalid,
    /// An `application/grip-instruct` response whose status is not 200.
    #[error("response code for application/grip-instruct content must be 200")]
    JsonStatus,
    /// The `application/grip-instruct` body is not JSON (or not an object or
    /// array at the top level).
    #[error("failed to parse application/grip-instruct content as JSON")]
    JsonParse,
    /// The JSON instruct is not an object.
    #[error("instruct must be an object")]
    JsonNotObject,
    /// `hold` is not an object.
    #[error("instruct contains 'hold' with wrong type")]
    HoldWrongType,
    /// `hold.mode` is neither `response` nor `stream`.
    #[error("hold 'mode' must be set to either 'response' or 'stream'")]
    HoldMode,
    /// `<parent>` (e.g. `channel`) is not an object.
    #[error("{parent} is not an object")]
    NotObject {
        /// What was expected to be an object.
        parent: &'static str,
    },
    /// A required field is missing.
    #[error("{parent} does not contain '{field}'")]
    Missing {
        /// The object (`hold`, `channel`).
        parent: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong type.
    #[error("{parent} contains '{field}' with wrong type")]
    WrongType {
        /// The object (`hold`, `channel`, `keep-alive`, `response`).
        parent: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A field has an out-of-range value.
    #[error("{parent} contains '{field}' with invalid value")]
    InvalidValue {
        /// The object.
        parent: &'static str,
        /// The field.
        field: &'static str,
    },
    /// A `filters` element is not a string.
    #[error("filters contains value with wrong type")]
    FilterWrongType,
    /// A `meta` value is not a string.
    #[error("'meta' contains '{key}' with wrong type")]
    MetaWrongType {
        /// The meta key.
        key: String,
    },
    /// `response` is not an object: 1.36 reports this with an empty message.
    #[error("")]
    ResponseWrongType,
    /// `response.headers` is malformed.
    #[error(transparent)]
    Headers(#[from] HeadersError),
}

impl InstructError {
    /// The debug-mode 502 body the proxy sends for this error:
    /// `Failed to parse accept instructions: <message>\n`.
    pub fn debug_body(&self) -> String {
        format!("Failed to parse accept instructions: {self}\n")
    }
}

/// Body of the non-debug 502 answer to any instruct error (`spec/grip.md` §5.8).
pub const PROXY_ERROR_BODY: &str = "Error while proxying to origin.\n";
