//! [`Allow`]: the tools and skills one session may reach.
//!
//! Entries are exact names, no patterns: a tool entry allows the tool with all its
//! recipes (`tools.git` allows `tools.git.status`), a skill entry one skill. What
//! is not allowed is absent: missing from listings, searches and `describe()`, and
//! refused host-side as if it did not exist (kind `NotFound`), so a session learns
//! nothing about what its server has beyond its list.

use serde::{Deserialize, Serialize};

use crate::names::SkillName;

/// Most entries in one list.
pub const MAX_ALLOWED: usize = 256;

/// Longest tool name in a list, in bytes.
const MAX_TOOL_NAME: usize = 128;

/// The tools and skills a session may reach; `None` allows every one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "mcp-server", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Allow {
    /// Tool names (each allows the tool with all its recipes); `None`: all tools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools: Option<Vec<String>>,
    /// Skill names; `None`: all skills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skills: Option<Vec<String>>,
}

/// Why a list was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid allowlist: {0}")]
pub struct InvalidAllow(pub String);

impl Allow {
    /// Whether it allows everything.
    pub fn is_unrestricted(&self) -> bool {
        self.tools.is_none() && self.skills.is_none()
    }

    /// Checks sizes and names, before anything is built from the list.
    pub fn validate(&self) -> Result<(), InvalidAllow> {
        for (what, list) in [("tools", &self.tools), ("skills", &self.skills)] {
            if list.as_ref().is_some_and(|l| l.len() > MAX_ALLOWED) {
                return Err(InvalidAllow(format!("more than {MAX_ALLOWED} {what}")));
            }
        }
        for tool in self.tools.iter().flatten() {
            if tool.is_empty() || tool.len() > MAX_TOOL_NAME || tool.chars().any(|c| c.is_control()) {
                return Err(InvalidAllow(format!(
                    "tool name {:?} must be 1 to {MAX_TOOL_NAME} bytes without control characters",
                    crate::text::shown(tool)
                )));
            }
        }
        for skill in self.skills.iter().flatten() {
            SkillName::new(skill).map_err(|e| InvalidAllow(e.to_string()))?;
        }
        Ok(())
    }

    /// Whether this list reaches nothing `outer` does not: each list `outer` sets is set
    /// here too, with no name outside it.
    pub fn is_within(&self, outer: &Allow) -> bool {
        list_within(self.tools.as_deref(), outer.tools.as_deref())
            && list_within(self.skills.as_deref(), outer.skills.as_deref())
    }

    /// What both of two reaches allow (`None`: everything): the narrower of the
    /// two, or their common part when neither is within the other.
    pub fn narrowest(a: Option<&Allow>, b: Option<&Allow>) -> Option<Allow> {
        let common = |a: &Option<Vec<String>>, b: &Option<Vec<String>>| match (a, b) {
            (None, list) | (list, None) => list.clone(),
            (Some(a), Some(b)) => Some(a.iter().filter(|name| b.contains(name)).cloned().collect()),
        };
        match (a, b) {
            (None, reach) | (reach, None) => reach.cloned(),
            (Some(a), Some(b)) => {
                Some(Allow { tools: common(&a.tools, &b.tools), skills: common(&a.skills, &b.skills) })
            }
        }
    }

    /// This list narrowed by `inner` (a session's list within its server's): `inner`
    /// may only name what this one allows, so a session never widens its server.
    pub fn narrowed(&self, inner: &Allow) -> Result<Allow, InvalidAllow> {
        inner.validate()?;
        Ok(Allow {
            tools: narrow("tool", self.tools.as_deref(), inner.tools.as_deref())?,
            skills: narrow("skill", self.skills.as_deref(), inner.skills.as_deref())?,
        })
    }
}

/// Whether the list `inner` reaches nothing `outer` does not (`None`: everything).
pub(crate) fn list_within(inner: Option<&[String]>, outer: Option<&[String]>) -> bool {
    match (inner, outer) {
        (_, None) => true,
        (None, Some(_)) => false,
        (Some(inner), Some(outer)) => inner.iter().all(|name| outer.contains(name)),
    }
}

fn narrow(what: &str, outer: Option<&[String]>, inner: Option<&[String]>) -> Result<Option<Vec<String>>, InvalidAllow> {
    match (outer, inner) {
        (outer, None) => Ok(outer.map(<[String]>::to_vec)),
        (None, Some(inner)) => Ok(Some(inner.to_vec())),
        (Some(outer), Some(inner)) => {
            if let Some(extra) = inner.iter().find(|name| !outer.contains(name)) {
                return Err(InvalidAllow(format!(
                    "{what} {:?} is not allowed on this server",
                    crate::text::shown(extra)
                )));
            }
            Ok(Some(inner.to_vec()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(tools: Option<&[&str]>, skills: Option<&[&str]>) -> Allow {
        let list = |l: &[&str]| l.iter().map(|s| s.to_string()).collect();
        Allow { tools: tools.map(list), skills: skills.map(list) }
    }

    #[test]
    fn within_means_no_wider_in_either_list() {
        let git = allow(Some(&["git"]), None);
        assert!(git.is_within(&Allow::default()));
        assert!(git.is_within(&allow(Some(&["git", "curl"]), None)));
        assert!(!Allow::default().is_within(&git));
        assert!(!allow(Some(&["git", "rm"]), None).is_within(&git));
        assert!(!git.is_within(&allow(Some(&["git"]), Some(&["a"]))));
        assert!(allow(Some(&[]), Some(&["a"])).is_within(&allow(Some(&["git"]), Some(&["a", "b"]))));
    }

    #[test]
    fn the_narrowest_reach_is_within_both() {
        let (git, git_curl) = (allow(Some(&["git"]), None), allow(Some(&["git", "curl"]), Some(&["a"])));
        assert_eq!(Allow::narrowest(None, None), None);
        assert_eq!(Allow::narrowest(Some(&git), None), Some(git.clone()));
        assert_eq!(Allow::narrowest(None, Some(&git)), Some(git.clone()));
        let both = Allow::narrowest(Some(&git), Some(&git_curl)).unwrap();
        assert_eq!(both, allow(Some(&["git"]), Some(&["a"])));
        assert!(both.is_within(&git) && both.is_within(&git_curl));
        let apart = Allow::narrowest(Some(&allow(Some(&["rm"]), None)), Some(&git)).unwrap();
        assert_eq!(apart, allow(Some(&[]), None));
    }

    #[test]
    fn a_session_narrows_but_never_widens_its_server() {
        let server = allow(Some(&["git", "curl"]), None);
        assert_eq!(server.narrowed(&allow(Some(&["git"]), None)).unwrap(), allow(Some(&["git"]), None));
        assert_eq!(server.narrowed(&Allow::default()).unwrap(), server);
        assert_eq!(server.narrowed(&allow(None, Some(&["a"]))).unwrap(), allow(Some(&["git", "curl"]), Some(&["a"])));
        let err = server.narrowed(&allow(Some(&["git", "rm"]), None)).unwrap_err();
        assert!(err.0.contains("\"rm\""), "{err}");
        let err = allow(None, Some(&["a"])).narrowed(&allow(None, Some(&["b"]))).unwrap_err();
        assert!(err.0.contains("\"b\""), "{err}");
    }

    #[test]
    fn names_and_sizes_are_checked() {
        assert!(allow(None, Some(&["../x"])).validate().is_err());
        assert!(allow(Some(&[""]), None).validate().is_err());
        assert!(allow(Some(&["a\u{0}b"]), None).validate().is_err());
        let many: Vec<String> = (0..=MAX_ALLOWED).map(|i| format!("t{i}")).collect();
        assert!(Allow { tools: Some(many), skills: None }.validate().is_err());
        assert!(allow(Some(&["git"]), Some(&["scan"])).validate().is_ok());
    }
}
