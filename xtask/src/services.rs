//! The one table describing Cruddur's two services. Every command reads it;
//! no other module spells a service's folder, image, port or file names.

use std::fmt;
use std::path::{Path, PathBuf};

/// A base image a Dockerfile takes as a build arg, and where it comes from.
#[derive(Debug)]
pub struct BaseImage {
    /// The Dockerfile's `ARG` name.
    pub arg: &'static str,
    /// What the Dockerfile defaults to (Docker Hub).
    pub public: &'static str,
    /// The image `sandbox base-images` makes from Debian packages.
    pub sandbox: &'static str,
    /// The ECR repository `ecr mirror-base` copies the public image into, if any.
    pub mirror_repo: Option<&'static str>,
}

pub const PYTHON_BASE: BaseImage = BaseImage {
    arg: "PYTHON_IMAGE",
    public: "python:3.11-slim-bookworm",
    sandbox: "cruddur-base/python:3.11-bookworm",
    mirror_repo: Some("cruddur-python"),
};
pub const NODE_BASE: BaseImage = BaseImage {
    arg: "NODE_IMAGE",
    public: "node:20-bookworm-slim",
    sandbox: "cruddur-base/node:20-trixie",
    mirror_repo: None,
};
pub const NGINX_BASE: BaseImage = BaseImage {
    arg: "NGINX_IMAGE",
    public: "nginx:1.27-bookworm",
    sandbox: "cruddur-base/nginx:bookworm",
    mirror_repo: None,
};
/// Only the compose stack's `db` service uses it (through `POSTGRES_IMAGE`).
pub const POSTGRES_BASE: BaseImage = BaseImage {
    arg: "POSTGRES_IMAGE",
    public: "postgres:15-bookworm",
    sandbox: "cruddur-base/postgres:15-bookworm",
    mirror_repo: None,
};

pub const ALL_BASE_IMAGES: [&BaseImage; 4] =
    [&PYTHON_BASE, &NODE_BASE, &NGINX_BASE, &POSTGRES_BASE];

#[derive(Debug)]
pub struct Service {
    /// Short name on the command line.
    pub short: &'static str,
    /// Folder, image, ECR repository, ECS service and task definition family.
    pub name: &'static str,
    pub port: u16,
    /// Path `run` polls to see the container is up.
    pub health_path: &'static str,
    pub dockerfile_prod: &'static str,
    pub dockerfile_dev: &'static str,
    pub base_images: &'static [&'static BaseImage],
}

pub const BACKEND: Service = Service {
    short: "backend",
    name: "backend-flask",
    port: 4567,
    health_path: "/api/health-check",
    dockerfile_prod: "Dockerfile.prod",
    dockerfile_dev: "Dockerfile",
    base_images: &[&PYTHON_BASE],
};

pub const FRONTEND: Service = Service {
    short: "frontend",
    name: "frontend-react-js",
    port: 3000,
    health_path: "/",
    dockerfile_prod: "Dockerfile.prod",
    dockerfile_dev: "Dockerfile",
    base_images: &[&NODE_BASE, &NGINX_BASE],
};

pub const ALL: [&Service; 2] = [&BACKEND, &FRONTEND];

/// The docker network the local containers share (compose and `run`).
pub const NETWORK: &str = "cruddur-net";

impl Service {
    pub fn folder(&self, root: &Path) -> PathBuf {
        root.join(self.name)
    }
    pub fn env_file_name(&self) -> String {
        format!("{}.env", self.name)
    }
    pub fn env_file(&self, root: &Path) -> PathBuf {
        root.join(self.env_file_name())
    }
    /// Local image name: `backend-flask-prod`, or `backend-flask` for the dev image.
    pub fn image(&self, dev: bool) -> String {
        if dev {
            self.name.to_string()
        } else {
            format!("{}-prod", self.name)
        }
    }
    pub fn dockerfile(&self, dev: bool) -> &'static str {
        if dev {
            self.dockerfile_dev
        } else {
            self.dockerfile_prod
        }
    }
    /// ECR repository, ECS service and task definition family share the name.
    pub fn repo(&self) -> &'static str {
        self.name
    }
    pub fn task_definition_file(&self, root: &Path) -> PathBuf {
        root.join("infra/task-definitions")
            .join(format!("{}.json", self.name))
    }
    pub fn service_definition_file(&self, root: &Path) -> PathBuf {
        root.join("infra/services")
            .join(format!("{}.json", self.name))
    }
}

impl PartialEq for Service {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for Service {}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// What a service argument on the command line selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selection {
    One(&'static Service),
    All,
}

impl Selection {
    pub fn services(self) -> Vec<&'static Service> {
        match self {
            Selection::One(s) => vec![s],
            Selection::All => ALL.to_vec(),
        }
    }
}

pub fn find(name: &str) -> Option<&'static Service> {
    ALL.into_iter().find(|s| s.short == name || s.name == name)
}

/// clap value parser for `<svc|all>` arguments.
pub fn parse_selection(arg: &str) -> Result<Selection, String> {
    if arg == "all" {
        return Ok(Selection::All);
    }
    parse_one(arg).map(Selection::One)
}

/// clap value parser for arguments naming exactly one service.
pub fn parse_one(arg: &str) -> Result<&'static Service, String> {
    find(arg).ok_or_else(|| {
        let valid: Vec<String> = ALL
            .iter()
            .map(|s| format!("{} ({})", s.short, s.name))
            .collect();
        format!(
            "unknown service '{arg}'; valid services: {}",
            valid.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_long_names_select_the_same_service() {
        assert_eq!(parse_selection("backend"), Ok(Selection::One(&BACKEND)));
        assert_eq!(
            parse_selection("backend-flask"),
            Ok(Selection::One(&BACKEND))
        );
        assert_eq!(
            parse_selection("frontend-react-js"),
            Ok(Selection::One(&FRONTEND))
        );
        assert_eq!(parse_selection("all").unwrap().services().len(), 2);
    }

    #[test]
    fn unknown_service_lists_the_valid_ones() {
        let err = parse_selection("db").unwrap_err();
        for s in ALL {
            assert!(err.contains(s.short) && err.contains(s.name), "{err}");
        }
        assert!(parse_one("all").is_err(), "`all` is not one service");
    }

    #[test]
    fn image_and_file_names_follow_the_service_name() {
        assert_eq!(BACKEND.image(false), "backend-flask-prod");
        assert_eq!(BACKEND.image(true), "backend-flask");
        let root = Path::new("/repo");
        assert_eq!(
            FRONTEND.env_file(root),
            Path::new("/repo/frontend-react-js.env")
        );
        assert_eq!(
            BACKEND.task_definition_file(root),
            Path::new("/repo/infra/task-definitions/backend-flask.json")
        );
    }
}
