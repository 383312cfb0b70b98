//! The `%` directive syntax shared by the `var-subst` and `build-id`
//! filters (`spec/grip.md` §8; 1.36 `src/handler/format.cpp`).
//!
//! `%%` is a literal `%`; `%<letter>` and `%(<arg>)<letter>` are directives
//! handed to a [`Directives`] implementation (`\` escapes the next byte
//! inside the parentheses; `%()x` passes *no* argument, as 1.36's null
//! `QByteArray` does). Any other byte after `%` is an error. Positions in
//! error texts are byte offsets into the processed text.
//!
//! In partial mode ([`Mode::Partial`]) an incomplete directive at the end of
//! the input is not an error: processing stops before its `%` and reports
//! where, so a streaming caller can keep the tail for the next chunk.

/// Whether an incomplete trailing directive is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The input is complete.
    Strict,
    /// More input may follow.
    Partial,
}

/// A directive handler's error (1.36's texts, without the position).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectiveError {
    /// The handler does not know this directive letter.
    #[error("Unknown directive '{}'", char::from(*.0))]
    Unknown(u8),
    /// `%s` without `(name)`.
    #[error("Directive 's' requires argument")]
    RequiresArgument,
    /// `%(name)s` for a variable that is not set.
    #[error("No such variable '{0}'")]
    NoSuchVariable(String),
    /// `%I` where there is no id to insert.
    #[error("No ID specified and no default ID in context")]
    NoDefaultId,
}

/// A syntax or directive error at a byte position (1.36's texts).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// `%` at the end of the input.
    #[error("Expected directive after '%' at position {0}")]
    ExpectedDirective(usize),
    /// `%(` at the end of the input (position of the `(`).
    #[error("Expected character after '(' at position {0}")]
    ExpectedArgument(usize),
    /// `\` at the end of the input.
    #[error("Expected character after '\\' at position {0}")]
    ExpectedEscaped(usize),
    /// `%(` without a closing `)` (position of the `(`).
    #[error("Unterminated field starting at position {0}")]
    Unterminated(usize),
    /// `%(arg)` at the end of the input (position of the `)`).
    #[error("Expected directive after ')' at position {0}")]
    ExpectedDirectiveAfterField(usize),
    /// A byte after `%` that is neither `%`, `(` nor an ASCII letter.
    #[error("Unknown directive '{}' at position {pos}", char::from(*.directive))]
    UnknownDirective {
        /// The byte (shown as Latin-1, as Qt does).
        directive: u8,
        /// Its position.
        pos: usize,
    },
    /// The handler refused the directive at `pos`.
    #[error("{error} at position {pos}")]
    Directive {
        /// What the handler said.
        error: DirectiveError,
        /// Position of the directive letter.
        pos: usize,
    },
}

/// Renders one directive: its letter and its `(argument)`, if any.
pub(crate) trait Directives {
    fn render(&self, directive: u8, arg: Option<&[u8]>) -> Result<Vec<u8>, DirectiveError>;
}

/// How far processing got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Processed {
    /// The rendered output.
    pub(crate) out: Vec<u8>,
    /// Bytes of the input consumed: the input length, or in partial mode
    /// the position of an incomplete trailing directive's `%`.
    pub(crate) consumed: usize,
}

/// Renders `format`, expanding directives through `handler`.
pub(crate) fn process(
    format: &[u8],
    handler: &impl Directives,
    mode: Mode,
) -> Result<Processed, FormatError> {
    let mut out = Vec::with_capacity(format.len());
    let at = |n: usize| format.get(n).copied();
    let mut n = 0;
    while let Some(c) = at(n) {
        if c != b'%' {
            out.push(c);
            n += 1;
            continue;
        }
        let marker = n;
        // `incomplete!(err)`: in partial mode stop before the marker, else fail
        macro_rules! incomplete {
            ($err:expr) => {
                return match mode {
                    Mode::Partial => Ok(Processed {
                        out,
                        consumed: marker,
                    }),
                    Mode::Strict => Err($err),
                }
            };
        }
        let Some(c) = at(n + 1) else {
            incomplete!(FormatError::ExpectedDirective(n));
        };
        n += 1;
        if c == b'(' {
            let field_start = n;
            if at(n + 1).is_none() {
                incomplete!(FormatError::ExpectedArgument(n));
            }
            n += 1;
            let mut arg: Option<Vec<u8>> = None;
            let mut closed = false;
            while let Some(c) = at(n) {
                match c {
                    b'\\' => {
                        let Some(e) = at(n + 1) else {
                            incomplete!(FormatError::ExpectedEscaped(n));
                        };
                        n += 1;
                        arg.get_or_insert_with(Vec::new).push(e);
                    }
                    b')' => {
                        closed = true;
                        break;
                    }
                    _ => arg.get_or_insert_with(Vec::new).push(c),
                }
                n += 1;
            }
            if !closed {
                incomplete!(FormatError::Unterminated(field_start));
            }
            let Some(d) = at(n + 1) else {
                incomplete!(FormatError::ExpectedDirectiveAfterField(n));
            };
            n += 1;
            let rendered = handler
                .render(d, arg.as_deref())
                .map_err(|error| FormatError::Directive { error, pos: n })?;
            out.extend_from_slice(&rendered);
        } else if c == b'%' {
            out.push(b'%');
        } else if c.is_ascii_alphabetic() {
            let rendered = handler
                .render(c, None)
                .map_err(|error| FormatError::Directive { error, pos: n })?;
            out.extend_from_slice(&rendered);
        } else {
            return Err(FormatError::UnknownDirective {
                directive: c,
                pos: n,
            });
        }
        n += 1;
    }
    Ok(Processed {
        out,
        consumed: format.len(),
    })
}
