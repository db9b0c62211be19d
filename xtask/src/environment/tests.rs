use super::*;
use crate::flags::Cli;

fn env(name: &str, text: &str) -> Result<Environment> {
    let file = format!("{DIR}/{name}.toml");
    Environment::new(
        name.into(),
        file.clone(),
        parse(text, &file).map_err(BadInput)?,
    )
}

const SHARED: &str = "account_id = \"111111111111\"\nregion = \"us-east-1\"\n";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn the_committed_environments_load_and_do_not_collide() {
    let root = repo_root();
    let names = known(&root);
    for name in ["staging", "production"] {
        assert!(names.contains(&name.to_string()), "{names:?}");
    }
    for name in names {
        let env = Environment::load(&root, &name).unwrap();
        assert_eq!(env.name, name);
        assert!(env.file.starts_with("infra/environments/"), "{}", env.file);
    }
}

#[test]
fn a_shared_account_gives_names_a_suffix_and_a_dedicated_one_none() {
    let shared = env("staging", SHARED).unwrap();
    assert_eq!(shared.suffix, "-staging");
    assert_eq!(shared.cluster(), "cruddur-staging");
    let own = env("prod", &format!("{SHARED}dedicated_account = true\n")).unwrap();
    assert_eq!(own.suffix, "");
    assert_eq!(own.cluster(), "cruddur");
    let short = env("staging", &format!("{SHARED}name_suffix = \"-stg\"\n")).unwrap();
    assert_eq!(short.suffix, "-stg");
    let both = env(
        "x",
        &format!("{SHARED}dedicated_account = true\nname_suffix = \"-x\"\n"),
    );
    assert!(both.unwrap_err().to_string().contains("key `name_suffix`"));
}

#[test]
fn bad_values_name_the_file_and_the_key() {
    let err = env("a", "account_id = \"12\"\nregion = \"us-east-1\"\n").unwrap_err();
    assert_eq!(
        err.to_string(),
        "infra/environments/a.toml: key `account_id`: an AWS account id is 12 digits"
    );
    assert!(err.downcast_ref::<BadInput>().is_some());
    let err = env("a", &format!("{SHARED}[services.db]\ncpu = 256\n")).unwrap_err();
    assert!(
        err.to_string()
            .contains("infra/environments/a.toml: unknown key `services.db`"),
        "{err}"
    );
    let err = env("a", &format!("{SHARED}base_images = \"dockerhub\"\n")).unwrap_err();
    assert!(err.to_string().contains("key `base_images`"), "{err}");
    let err = env("Bad_Name", SHARED).unwrap_err();
    assert!(err.to_string().contains("`Bad_Name`"), "{err}");
}

#[test]
fn two_environments_of_one_account_must_not_name_the_same_things() {
    let a = env("a", SHARED).unwrap();
    let b = env("b", SHARED).unwrap();
    assert_eq!(a.collides_with(&b), None);
    let own = env("own", &format!("{SHARED}dedicated_account = true\n")).unwrap();
    let msg = a.collides_with(&own).unwrap();
    assert!(
        msg.contains("own.toml says it has the account to itself"),
        "{msg}"
    );
    let same_cluster = env("c", &format!("{SHARED}cluster = \"cruddur-a\"\n")).unwrap();
    assert!(a
        .collides_with(&same_cluster)
        .unwrap()
        .contains("cluster cruddur-a"));
    let same_suffix = env("d", &format!("{SHARED}name_suffix = \"-a\"\n")).unwrap();
    assert!(a.collides_with(&same_suffix).unwrap().contains("suffix -a"));
    let elsewhere = env(
        "e",
        "account_id = \"222222222222\"\nregion = \"us-east-1\"\ndedicated_account = true\n",
    )
    .unwrap();
    assert_eq!(a.collides_with(&elsewhere), None);
    let emulator = env(
        "f",
        &format!(
            "{SHARED}dedicated_account = true\n[aws]\nendpoint_url = \"http://127.0.0.1:1\"\n"
        ),
    )
    .unwrap();
    assert_eq!(a.collides_with(&emulator), None, "another AWS altogether");
}

#[test]
fn a_flag_wins_over_the_file_and_the_file_over_the_process_environment() {
    let text = format!(
        "{SHARED}cluster = \"from-file\"\nsubnets = [\"subnet-file\"]\nbackend_url = \"https://api.example\"\n\
         [cognito]\nuser_pool_id = \"pool-file\"\n"
    );
    let staging = env("staging", &text).unwrap();
    // Variables as a shell that sourced the sandbox's env.sh has them.
    let mut settings = Cli::try_parse_args_from(["xtask", "status", "--cluster", "from-flag"])
        .unwrap()
        .settings;
    settings.registry = Some("127.0.0.1:4701".into());
    settings.security_groups = vec!["sg-sandbox".into()];
    settings.build_network = Some("host".into());
    settings.given.variables = vec![
        ("registry".into(), "CRUDDUR_ECR_REGISTRY".into()),
        ("security_groups".into(), "CRUDDUR_SECURITY_GROUP".into()),
        ("build_network".into(), "CRUDDUR_BUILD_NETWORK".into()),
    ];
    let ignored = staging.apply(&mut settings);
    assert_eq!(settings.cluster, "from-flag", "the flag wins");
    assert_eq!(settings.subnets, ["subnet-file"]);
    assert_eq!(
        settings.registry, None,
        "the sandbox's registry is not staging's"
    );
    assert!(settings.security_groups.is_empty());
    assert_eq!(settings.account.as_deref(), Some("111111111111"));
    assert_eq!(settings.backend_url.as_deref(), Some("https://api.example"));
    assert_eq!(settings.cognito_user_pool_id.as_deref(), Some("pool-file"));
    assert_eq!(
        settings.build_network.as_deref(),
        Some("host"),
        "this machine's"
    );
    assert_eq!(ignored, ["CRUDDUR_ECR_REGISTRY", "CRUDDUR_SECURITY_GROUP"]);
    assert_eq!(settings.env_suffix(), "-staging");
    assert_eq!(
        settings.family(&crate::services::BACKEND),
        "backend-flask-staging"
    );
    assert_eq!(settings.latest_tag(), "latest-staging");
}

#[test]
fn overrides_are_found_by_either_name_of_the_service() {
    let text = format!(
        "{SHARED}desired_count = 2\n[services.backend-flask]\ncpu = 512\n[services.frontend]\ndesired_count = 3\n"
    );
    let e = env("a", &text).unwrap();
    use crate::services::{BACKEND, FRONTEND};
    assert_eq!(e.overrides(&BACKEND).unwrap().cpu.as_deref(), Some("512"));
    assert_eq!(e.desired_count(&BACKEND), Some(2));
    assert_eq!(e.desired_count(&FRONTEND), Some(3));
    let twice = format!("{SHARED}[services.backend]\ncpu = 1\n[services.backend-flask]\ncpu = 2\n");
    assert!(env("a", &twice)
        .unwrap_err()
        .to_string()
        .contains("two entries"));
}
