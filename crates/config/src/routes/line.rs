//! The lexical grammar of one routes line (spec/config.md §8.1), ported from 1.36's
//! `RoutesFile::LineParser`: space-separated sections, each `value(,prop)*`; props are
//! `name[=text]`; double quotes group text (only `\\` and `\"` escapes); `#` ends the line
//! outside quotes. A first token containing `=` means "empty value, props only".

/// One space-separated section: its value and its props in order of appearance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RouteSection {
    /// The value before the first `,` (empty for a props-only section).
    pub value: String,
    /// `(name, text)` pairs in written order; a prop without `=` has empty text.
    pub props: Vec<(String, String)>,
}

impl RouteSection {
    /// Whether the prop is present (flags are enabled by presence alone).
    pub fn has(&self, name: &str) -> bool {
        self.props.iter().any(|(n, _)| n == name)
    }

    /// The last occurrence's text (single-valued options: last wins).
    pub fn last(&self, name: &str) -> Option<&str> {
        self.props
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every occurrence, **last first** (Qt `QMultiHash::values` order; `header`, `sub`).
    pub fn all_rev(&self, name: &str) -> Vec<&str> {
        self.props
            .iter()
            .rev()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// A line the lexer rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexError {
    /// A quote without its end, or `\` followed by something else than `\` or `"`.
    Unterminated,
    /// A `,` not followed by a prop (e.g. a trailing comma).
    ExpectingProp,
    /// `,=x`.
    EmptyPropName,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Separator,
    InitialValue,
    Prop,
}

enum Token {
    Error(LexError),
    InitialValue(String),
    Prop(String, String),
    End,
}

struct Lexer<'a> {
    s: &'a str,
    state: State,
    index: usize,
}

fn byte(s: &str, i: usize) -> u8 {
    s.as_bytes().get(i).copied().unwrap_or(0)
}

impl Lexer<'_> {
    fn find_next(&self, from: usize) -> Option<usize> {
        let rest = self.s.as_bytes().get(from..)?;
        rest.iter()
            .position(|c| matches!(c, b'"' | b',' | b' ' | b'#'))
            .map(|p| from + p)
    }

    fn slice(&self, a: usize, b: usize) -> &str {
        self.s.get(a..b).unwrap_or_default()
    }

    fn next_token(&mut self) -> Token {
        let len = self.s.len();
        let start = self.index;
        let mut part = String::new();
        loop {
            if self.state == State::Separator {
                while self.index < len && byte(self.s, self.index) == b' ' {
                    self.index += 1;
                }
                if self.index >= len || byte(self.s, self.index) == b'#' {
                    return Token::End;
                }
                self.state = State::InitialValue;
                continue;
            }
            let at = self.find_next(self.index);
            if let Some(q) = at.filter(|&a| byte(self.s, a) == b'"') {
                part.push_str(self.slice(self.index, q));
                let mut at = q + 1;
                let mut run = at;
                loop {
                    if at >= len {
                        return Token::Error(LexError::Unterminated);
                    }
                    match byte(self.s, at) {
                        b'\\' => {
                            part.push_str(self.slice(run, at));
                            at += 1;
                            match byte(self.s, at) {
                                b'\\' if at < len => part.push('\\'),
                                b'"' if at < len => part.push('"'),
                                _ => return Token::Error(LexError::Unterminated),
                            }
                            at += 1;
                            run = at;
                        }
                        b'"' => {
                            part.push_str(self.slice(run, at));
                            break;
                        }
                        _ => at += 1,
                    }
                }
                self.index = at + 1;
                continue;
            }
            let mut at = at.unwrap_or(len);
            part.push_str(self.slice(self.index, at));
            let token = if self.state == State::InitialValue {
                if part.contains('=') {
                    // Re-read the same text as props of an empty initial value.
                    self.index = start;
                    self.state = State::Prop;
                    return Token::InitialValue(String::new());
                }
                Token::InitialValue(part)
            } else {
                if part.is_empty() {
                    return Token::Error(LexError::ExpectingProp);
                }
                let (name, value) = part.split_once('=').unwrap_or((part.as_str(), ""));
                if name.is_empty() {
                    return Token::Error(LexError::EmptyPropName);
                }
                Token::Prop(name.to_string(), value.to_string())
            };
            if at < len && byte(self.s, at) == b',' {
                at += 1;
                self.state = State::Prop;
            } else {
                self.state = State::Separator;
            }
            self.index = at;
            return token;
        }
    }
}

/// Splits a line into sections. Blank and `#` lines give an empty list.
pub fn parse_line(line: &str) -> Result<Vec<RouteSection>, LexError> {
    let mut lexer = Lexer {
        s: line,
        state: State::Separator,
        index: 0,
    };
    let mut out: Vec<RouteSection> = Vec::new();
    loop {
        match lexer.next_token() {
            Token::Error(e) => return Err(e),
            Token::InitialValue(value) => out.push(RouteSection {
                value,
                props: Vec::new(),
            }),
            Token::Prop(name, value) => {
                // The lexer always yields an initial value before props.
                if let Some(last) = out.last_mut() {
                    last.props.push((name, value));
                }
            }
            Token::End => return Ok(out),
        }
    }
}
