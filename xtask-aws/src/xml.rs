//! Just enough XML for AWS's query-protocol answers (ELBv2, IAM, EC2):
//! elements, text and the five entities; attributes and declarations skipped.

use anyhow::{bail, Result};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Element {
    pub name: String,
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The element at the end of `path` (child names), if there.
    pub fn at(&self, path: &[&str]) -> Option<&Element> {
        path.iter().try_fold(self, |e, name| e.child(name))
    }

    /// The text at `path`, or "" when absent.
    pub fn text_at(&self, path: &[&str]) -> String {
        self.at(path).map(|e| e.text.clone()).unwrap_or_default()
    }

    /// Every element named `name` anywhere below (e.g. each `member`).
    pub fn descendants<'a>(&'a self, name: &str) -> Vec<&'a Element> {
        let mut found = Vec::new();
        for c in &self.children {
            if c.name == name {
                found.push(c);
            }
            found.extend(c.descendants(name));
        }
        found
    }

    /// The `member` elements of the list at `path`.
    pub fn members(&self, path: &[&str]) -> Vec<&Element> {
        self.at(path)
            .map(|list| {
                list.children
                    .iter()
                    .filter(|c| c.name == "member")
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn parse(text: &str) -> Result<Element> {
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut rest = text;
    while let Some(start) = rest.find('<') {
        let before = &rest[..start];
        if let Some(top) = stack.last_mut() {
            top.text.push_str(&unescape(before));
        }
        rest = &rest[start..];
        let Some(end) = rest.find('>') else {
            bail!("unterminated tag in XML");
        };
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') || tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let done = stack.pop().unwrap_or_default();
            if done.name != name.trim() {
                bail!("XML closes <{}> with </{name}>", done.name);
            }
            match stack.last_mut() {
                Some(parent) => parent.children.push(trimmed(done)),
                None => bail!("XML closes more than it opens"),
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let name = tag
            .trim_end_matches('/')
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let element = Element {
            name,
            ..Element::default()
        };
        if self_closing {
            if let Some(parent) = stack.last_mut() {
                parent.children.push(element);
            }
        } else {
            stack.push(element);
        }
    }
    let mut document = stack.pop().unwrap_or_default();
    if !stack.is_empty() || document.children.len() != 1 {
        bail!("XML is not one well-formed document");
    }
    Ok(document.children.remove(0))
}

/// Text of an element with children is indentation only.
fn trimmed(mut e: Element) -> Element {
    if !e.children.is_empty() {
        e.text.clear();
    }
    e
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#10;", "\n")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_elbv2_answer() {
        let doc = parse(
            r#"<?xml version="1.0"?>
<DescribeTargetHealthResponse xmlns="http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/">
  <DescribeTargetHealthResult>
    <TargetHealthDescriptions>
      <member>
        <Target><Id>10.0.0.1</Id><Port>4567</Port></Target>
        <TargetHealth><State>unhealthy</State><Reason>Target.ResponseCodeMismatch</Reason>
          <Description>Health checks failed with these codes: [500] &amp; more</Description></TargetHealth>
      </member>
      <member><Target><Id>10.0.0.2</Id></Target><TargetHealth><State>healthy</State></TargetHealth></member>
    </TargetHealthDescriptions>
  </DescribeTargetHealthResult>
  <ResponseMetadata><RequestId>1</RequestId></ResponseMetadata>
</DescribeTargetHealthResponse>"#,
        )
        .unwrap();
        let members = doc.members(&["DescribeTargetHealthResult", "TargetHealthDescriptions"]);
        assert_eq!(members.len(), 2);
        assert_eq!(members[0].text_at(&["Target", "Id"]), "10.0.0.1");
        assert_eq!(
            members[0].text_at(&["TargetHealth", "Description"]),
            "Health checks failed with these codes: [500] & more"
        );
        assert_eq!(members[1].text_at(&["TargetHealth", "State"]), "healthy");
        assert_eq!(members[1].text_at(&["TargetHealth", "Reason"]), "");
    }

    #[test]
    fn refuses_broken_xml() {
        assert!(parse("<a><b></a>").is_err());
        assert!(parse("<a>").is_err());
    }
}
