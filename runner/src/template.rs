//! The tiny Jinja subset 1.36's runner uses for `zurl.conf`, `m2adapter.conf` and
//! `mongrel2.conf` (spec/runner.md §3.7): `{{ a.b }}` variables (missing → empty),
//! `{% if [not] x %}…{% endif %}`, `{% for x in list %}…{% endfor %}` with `loop.first` and
//! `loop.last`. Everything else is literal; there is no whitespace control. Pure: text and
//! values in, text or a [`TemplateError`] out.

use std::collections::BTreeMap;

/// A template value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A string; true when non-empty.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A number; true when non-zero.
    Int(i64),
    /// A list, for `for`.
    List(Vec<Self>),
    /// A map, for dotted lookups.
    Map(BTreeMap<String, Self>),
}

impl Value {
    fn truthy(&self) -> bool {
        match self {
            Self::Str(s) => !s.is_empty(),
            Self::Bool(b) => *b,
            Self::Int(n) => *n != 0,
            Self::List(_) | Self::Map(_) => false,
        }
    }

    fn render(&self, out: &mut String) {
        match self {
            Self::Str(s) => out.push_str(s),
            Self::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Self::Int(n) => out.push_str(&n.to_string()),
            Self::List(_) | Self::Map(_) => {}
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Self::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Self::Str(s)
    }
}

/// Variables of one rendering.
pub type Vars = BTreeMap<String, Value>;

/// Why a template could not be rendered (1.36's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{{` without `}}`.
    #[error("no matching }}}}")]
    NoMatchingVar,
    /// `{%` without `%}`.
    #[error("no matching %}}")]
    NoMatchingTag,
    /// A directive other than if/endif/for/endfor.
    #[error("unknown control directive \"{0}\"")]
    UnknownDirective(String),
    /// An `endif`/`endfor` that closes nothing or the wrong block, or a block left open.
    #[error("mismatched block: {0}")]
    Mismatched(String),
    /// `for x in y` where `y` is not a list, or a malformed `for`.
    #[error("for loop container is not a list: {0}")]
    NotAList(String),
}

/// A parsed template node.
#[derive(Debug)]
enum Node {
    Text(String),
    Var(String),
    If {
        negate: bool,
        name: String,
        body: Vec<Self>,
    },
    For {
        var: String,
        list: String,
        body: Vec<Self>,
    },
}

/// Renders `template` with `vars`.
pub fn render(template: &str, vars: &Vars) -> Result<String, TemplateError> {
    let nodes = parse(template)?;
    let mut out = String::with_capacity(template.len());
    let mut scope = vec![vars.clone()];
    emit(&nodes, &mut scope, &mut out)?;
    Ok(out)
}

/// What closes the block being parsed.
enum Close {
    EndIf,
    EndFor,
    Eof,
}

fn parse(src: &str) -> Result<Vec<Node>, TemplateError> {
    let mut rest = src;
    let (nodes, close) = parse_block(&mut rest)?;
    match close {
        Close::Eof => Ok(nodes),
        Close::EndIf => Err(TemplateError::Mismatched("endif".into())),
        Close::EndFor => Err(TemplateError::Mismatched("endfor".into())),
    }
}

fn parse_block(rest: &mut &str) -> Result<(Vec<Node>, Close), TemplateError> {
    let mut nodes = Vec::new();
    loop {
        let next_var = rest.find("{{");
        let next_tag = rest.find("{%");
        let at = match (next_var, next_tag) {
            (None, None) => {
                if !rest.is_empty() {
                    nodes.push(Node::Text((*rest).to_owned()));
                }
                *rest = "";
                return Ok((nodes, Close::Eof));
            }
            (Some(v), Some(t)) => v.min(t),
            (Some(v), None) => v,
            (None, Some(t)) => t,
        };
        let (text, tail) = rest.split_at(at);
        if !text.is_empty() {
            nodes.push(Node::Text(text.to_owned()));
        }
        if let Some(body) = tail.strip_prefix("{{") {
            let end = body.find("}}").ok_or(TemplateError::NoMatchingVar)?;
            nodes.push(Node::Var(body[..end].trim().to_owned()));
            *rest = &body[end + 2..];
            continue;
        }
        let body = &tail[2..];
        let end = body.find("%}").ok_or(TemplateError::NoMatchingTag)?;
        let directive = body[..end].trim().to_owned();
        *rest = &body[end + 2..];
        let words: Vec<&str> = directive.split_whitespace().collect();
        match words.as_slice() {
            ["if", name] | ["if", "not", name] => {
                let negate = words.len() == 3;
                let name = (*name).to_owned();
                let (body, close) = parse_block(rest)?;
                if !matches!(close, Close::EndIf) {
                    return Err(TemplateError::Mismatched(directive));
                }
                nodes.push(Node::If { negate, name, body });
            }
            ["for", var, "in", list] => {
                let (var, list) = ((*var).to_owned(), (*list).to_owned());
                let (body, close) = parse_block(rest)?;
                if !matches!(close, Close::EndFor) {
                    return Err(TemplateError::Mismatched(directive));
                }
                nodes.push(Node::For { var, list, body });
            }
            ["endif"] => return Ok((nodes, Close::EndIf)),
            ["endfor"] => return Ok((nodes, Close::EndFor)),
            ["for", ..] => return Err(TemplateError::NotAList(directive)),
            _ => return Err(TemplateError::UnknownDirective(directive)),
        }
    }
}

/// Looks a dotted name up, innermost scope first.
fn lookup<'a>(scope: &'a [Vars], name: &str) -> Option<&'a Value> {
    let mut parts = name.split('.');
    let first = parts.next()?;
    let mut value = scope.iter().rev().find_map(|vars| vars.get(first))?;
    for part in parts {
        match value {
            Value::Map(m) => value = m.get(part)?,
            _ => return None,
        }
    }
    Some(value)
}

fn emit(nodes: &[Node], scope: &mut Vec<Vars>, out: &mut String) -> Result<(), TemplateError> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Var(name) => {
                if let Some(v) = lookup(scope, name) {
                    v.render(out);
                }
            }
            Node::If { negate, name, body } => {
                let truth = lookup(scope, name).is_some_and(Value::truthy);
                if truth != *negate {
                    emit(body, scope, out)?;
                }
            }
            Node::For { var, list, body } => {
                let items = match lookup(scope, list) {
                    Some(Value::List(items)) => items.clone(),
                    _ => return Err(TemplateError::NotAList(list.clone())),
                };
                let count = items.len();
                for (i, item) in items.into_iter().enumerate() {
                    let mut frame = Vars::new();
                    frame.insert(var.clone(), item);
                    let mut lp = BTreeMap::new();
                    lp.insert("first".to_owned(), Value::Bool(i == 0));
                    lp.insert("last".to_owned(), Value::Bool(i + 1 == count));
                    frame.insert("loop".to_owned(), Value::Map(lp));
                    scope.push(frame);
                    let result = emit(body, scope, out);
                    scope.pop();
                    result?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, Value)]) -> Vars {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn variables_conditions_and_loops() {
        let list = Value::List(vec!["a".into(), "b".into(), "c".into()]);
        let v = vars(&[("x", "X".into()), ("ports", list), ("empty", "".into())]);
        let out = render(
            "{{ x }}-{{missing}}-{% if empty %}no{% endif %}{% if not empty %}yes{% endif %}:\
             {% for p in ports %}{% if not loop.first %},{% endif %}{{ p }}{% endfor %}",
            &v,
        )
        .unwrap();
        assert_eq!(out, "X--yes:a,b,c");
    }

    #[test]
    fn dotted_lookup() {
        let mut m = BTreeMap::new();
        m.insert("port".to_owned(), Value::Int(80));
        let v = vars(&[("items", Value::List(vec![Value::Map(m)]))]);
        let out = render("{% for i in items %}p={{ i.port }}{% endfor %}", &v).unwrap();
        assert_eq!(out, "p=80");
    }

    #[test]
    fn errors() {
        let v = Vars::new();
        assert_eq!(render("{{ x", &v), Err(TemplateError::NoMatchingVar));
        assert_eq!(render("{% if x", &v), Err(TemplateError::NoMatchingTag));
        assert!(matches!(
            render("{% while x %}", &v),
            Err(TemplateError::UnknownDirective(_))
        ));
        assert!(matches!(
            render("{% if x %}", &v),
            Err(TemplateError::Mismatched(_))
        ));
        assert!(matches!(
            render("{% endfor %}", &v),
            Err(TemplateError::Mismatched(_))
        ));
        assert!(matches!(
            render("{% for a in b %}{% endfor %}", &v),
            Err(TemplateError::NotAList(_))
        ));
    }
}
