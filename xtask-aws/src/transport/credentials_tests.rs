use super::super::testing::{config, creds, env_at, home, iso_in};
use super::*;
use crate::transport::profile::AwsEnv;
use crate::transport::sigv4::parse_time;

#[test]
fn debug_hides_the_secret_and_the_token() {
    let creds = Credentials {
        access_key_id: "AKIDVISIBLE".into(),
        secret_access_key: "the-secret".into(),
        session_token: Some("the-token".into()),
        expiry: None,
    };
    let text = format!("{creds:?} {creds:#?}");
    assert!(text.contains("AKIDVISIBLE"), "{text}");
    assert!(
        !text.contains("the-secret") && !text.contains("the-token"),
        "{text}"
    );
}

#[tokio::test]
async fn environment_keys_come_first() {
    let dir = home(&[(
        ".aws/credentials",
        "[default]\naws_access_key_id = FILE\naws_secret_access_key = s\n",
    )]);
    let env = AwsEnv {
        access_key_id: Some("ENV".into()),
        secret_access_key: Some("env-secret".into()),
        session_token: Some("env-token".into()),
        ..env_at(dir.path())
    };
    let found = creds(env).await.unwrap();
    assert_eq!(found.access_key_id, "ENV");
    assert_eq!(found.session_token.as_deref(), Some("env-token"));
    // One of the two is not enough: the profile is used instead.
    let env = AwsEnv {
        access_key_id: Some("ENV".into()),
        ..env_at(dir.path())
    };
    assert_eq!(creds(env).await.unwrap().access_key_id, "FILE");
}

#[tokio::test]
async fn static_keys_from_files_where_the_credentials_file_wins() {
    let dir = home(&[
        (
            ".aws/config",
            "[default]\nregion = eu-west-1\naws_access_key_id = CONFIG\naws_secret_access_key = c\n\
             [profile only-config]\naws_access_key_id = ONLYCONFIG\naws_secret_access_key = c\n",
        ),
        (
            ".aws/credentials",
            "[default]\naws_access_key_id = CREDS\naws_secret_access_key = s\naws_session_token = t\n",
        ),
    ]);
    let found = creds(env_at(dir.path())).await.unwrap();
    assert_eq!(found.access_key_id, "CREDS");
    assert_eq!(found.secret_access_key, "s");
    assert_eq!(found.session_token.as_deref(), Some("t"));
    let env = AwsEnv {
        profile: Some("only-config".into()),
        ..env_at(dir.path())
    };
    assert_eq!(creds(env).await.unwrap().access_key_id, "ONLYCONFIG");
}

#[tokio::test]
async fn profile_selection() {
    let dir = home(&[
        (".aws/config", "[profile dev]\nregion = ap-south-1\n"),
        (
            ".aws/credentials",
            "[default]\naws_access_key_id = DEFAULT\naws_secret_access_key = s\n\
             [dev]\naws_access_key_id = DEV\naws_secret_access_key = s\n\
             [ci]\naws_access_key_id = CI\naws_secret_access_key = s\n",
        ),
    ]);
    let with = |profile: Option<&str>, default_profile: Option<&str>| AwsEnv {
        profile: profile.map(Into::into),
        default_profile: default_profile.map(Into::into),
        ..env_at(dir.path())
    };
    assert_eq!(
        creds(with(None, None)).await.unwrap().access_key_id,
        "DEFAULT"
    );
    assert_eq!(
        creds(with(Some("dev"), None)).await.unwrap().access_key_id,
        "DEV"
    );
    assert_eq!(
        creds(with(None, Some("ci"))).await.unwrap().access_key_id,
        "CI"
    );
    assert_eq!(
        creds(with(Some("dev"), Some("ci")))
            .await
            .unwrap()
            .access_key_id,
        "DEV"
    );
    assert_eq!(
        config(with(Some("dev"), None)).region().as_deref(),
        Some("ap-south-1")
    );
    let err = creds(with(Some("nope"), None))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("AWS profile `nope` is in neither"), "{err}");
}

#[test]
fn region_and_endpoint_order() {
    let dir = home(&[(
        ".aws/config",
        "[default]\nregion = from-profile\nendpoint_url = http://profile:1\n",
    )]);
    let env = |region: Option<&str>, default_region: Option<&str>| AwsEnv {
        region: region.map(Into::into),
        default_region: default_region.map(Into::into),
        ..env_at(dir.path())
    };
    let region = |e| config(e).region();
    assert_eq!(region(env(Some("a"), Some("b"))).as_deref(), Some("a"));
    assert_eq!(region(env(None, Some("b"))).as_deref(), Some("b"));
    assert_eq!(region(env(None, None)).as_deref(), Some("from-profile"));
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(config(env_at(empty.path())).region(), None);
    assert_eq!(
        config(env(None, None)).endpoint_url().as_deref(),
        Some("http://profile:1")
    );
    let with_env = AwsEnv {
        endpoint_url: Some("http://127.0.0.1:5000".into()),
        ..env(None, None)
    };
    assert_eq!(
        config(with_env).endpoint_url().as_deref(),
        Some("http://127.0.0.1:5000")
    );
    // AWS_CONFIG_FILE moves the file; `~` is HOME.
    let other = home(&[("elsewhere", "[default]\nregion = moved\n")]);
    let moved = AwsEnv {
        config_file: Some("~/elsewhere".into()),
        ..env_at(other.path())
    };
    assert_eq!(config(moved).region().as_deref(), Some("moved"));
}

#[tokio::test]
async fn credential_process_runs_and_its_failure_names_the_profile() {
    let expires = iso_in(3600);
    let dir = home(&[
        (
            "creds.sh",
            &format!(
                "echo '{{\"Version\": 1, \"AccessKeyId\": \"PROC\", \"SecretAccessKey\": \"s\", \
                 \"SessionToken\": \"t\", \"Expiration\": \"{expires}\"}}'"
            ),
        ),
        ("fails.sh", "echo 'some secret-free reason' >&2; exit 3"),
        ("garbage.sh", "echo hello"),
    ]);
    let d = dir.path().display();
    let text = format!(
        "[default]\ncredential_process = sh {d}/creds.sh\n\
         [profile broken]\ncredential_process = sh {d}/fails.sh\n\
         [profile garbage]\ncredential_process = sh {d}/garbage.sh\n"
    );
    std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
    std::fs::write(dir.path().join(".aws/config"), text).unwrap();
    let found = creds(env_at(dir.path())).await.unwrap();
    assert_eq!(found.access_key_id, "PROC");
    assert_eq!(found.session_token.as_deref(), Some("t"));
    assert_eq!(found.expiry, Some(parse_time(&expires).unwrap()));
    let profile = |name: &str| AwsEnv {
        profile: Some(name.into()),
        ..env_at(dir.path())
    };
    let err = creds(profile("broken")).await.unwrap_err().to_string();
    assert_eq!(
        err,
        "credential_process of profile `broken` failed (exit status: 3)"
    );
    let err = format!("{:#}", creds(profile("garbage")).await.unwrap_err());
    assert!(
        err.starts_with("credential_process of profile `garbage` printed no JSON"),
        "{err}"
    );
}

#[tokio::test]
async fn the_cache_reuses_credentials_until_five_minutes_before_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let script = |secs: u64| {
        format!(
            "echo run >> {d}/runs; echo '{{\"Version\": 1, \"AccessKeyId\": \"A\", \
             \"SecretAccessKey\": \"s\", \"Expiration\": \"{}\"}}'",
            iso_in(secs)
        )
    };
    std::fs::write(dir.path().join("long.sh"), script(3600)).unwrap();
    std::fs::write(dir.path().join("short.sh"), script(240)).unwrap();
    std::fs::create_dir_all(dir.path().join(".aws")).unwrap();
    let runs = || {
        std::fs::read_to_string(dir.path().join("runs"))
            .unwrap()
            .lines()
            .count()
    };
    for (script, expected_runs) in [("long.sh", 1), ("short.sh", 3)] {
        let _ = std::fs::remove_file(dir.path().join("runs"));
        let text = format!("[default]\ncredential_process = sh {d}/{script}\n");
        std::fs::write(dir.path().join(".aws/config"), text).unwrap();
        let cache = CredentialsCache::new(config(env_at(dir.path())));
        for _ in 0..3 {
            assert_eq!(cache.get().await.unwrap().access_key_id, "A");
        }
        assert_eq!(runs(), expected_runs, "{script}");
    }
}

#[tokio::test]
async fn a_missing_or_expired_sso_login_says_to_log_in() {
    let config_text = "[profile new]\nsso_session = dev-sso\nsso_account_id = 111122223333\n\
                       sso_role_name = Deploy\n\
                       [sso-session dev-sso]\nsso_start_url = https://d-abc123.awsapps.com/start\n\
                       sso_region = eu-west-1\n\
                       [profile legacy]\nsso_start_url = https://d-abc123.awsapps.com/start\n\
                       sso_region = eu-west-1\nsso_account_id = 111122223333\nsso_role_name = Deploy\n";
    // The CLI's cache names: SHA-1 of the session name, or of the start URL.
    let legacy = "40a89917e3175433e361b710a9d43528d7f1890a";
    let expired = r#"{"accessToken": "old", "expiresAt": "2020-01-01T00:00:00UTC"}"#;
    let dir = home(&[
        (".aws/config", config_text),
        (&format!(".aws/sso/cache/{legacy}.json"), expired),
    ]);
    for profile in ["new", "legacy"] {
        let env = AwsEnv {
            profile: Some(profile.into()),
            ..env_at(dir.path())
        };
        let err = creds(env).await.unwrap_err().to_string();
        assert!(
            err.contains("is missing or expired: run `aws sso login --profile ")
                && err.ends_with(&format!("--profile {profile}`")),
            "{err}"
        );
    }
    // A fresh token in the session's cache file is found.
    let fresh = format!(
        "{{\"accessToken\": \"tok\", \"expiresAt\": \"{}\"}}",
        iso_in(3600)
    );
    let cache = ".aws/sso/cache/541bfa501b568681b27389461c29c505f3607716.json";
    let dir = home(&[(".aws/config", config_text), (cache, &fresh)]);
    let config = config(env_at(dir.path()));
    let profile = config.profile("new").unwrap();
    let login = sources::sso_login(&config, "new", profile).unwrap();
    assert_eq!(
        (
            login.token.as_str(),
            login.region.as_str(),
            login.account.as_str(),
            login.role.as_str()
        ),
        ("tok", "eu-west-1", "111122223333", "Deploy")
    );
}

#[tokio::test]
async fn nothing_found_lists_what_was_tried() {
    let dir = tempfile::tempdir().unwrap();
    let err = creds(env_at(dir.path())).await.unwrap_err().to_string();
    let aws = dir.path().join(".aws").display().to_string();
    assert_eq!(
        err,
        format!(
            "no AWS credentials found; tried environment (AWS_ACCESS_KEY_ID and \
             AWS_SECRET_ACCESS_KEY not set), profile `default` (not in {aws}/config or \
             {aws}/credentials), web identity (AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE \
             not both set), ECS container (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI/_FULL_URI \
             not set); EC2 instance metadata (IMDS) is not supported"
        )
    );
}

#[tokio::test]
async fn broken_role_chains_are_errors() {
    let dir = home(&[(
        ".aws/config",
        "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n\
         [profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n\
         [profile orphan]\nrole_arn = arn:aws:iam::1:role/o\n\
         [profile lost]\nrole_arn = arn:aws:iam::1:role/l\nsource_profile = nowhere\n",
    )]);
    let err = |name: &str| {
        let env = AwsEnv {
            profile: Some(name.into()),
            ..env_at(dir.path())
        };
        async move { creds(env).await.unwrap_err().to_string() }
    };
    assert_eq!(err("a").await, "AWS profiles loop: a -> b -> a");
    assert_eq!(
        err("orphan").await,
        "profile `orphan` has role_arn but no source_profile"
    );
    assert!(err("lost")
        .await
        .starts_with("profile `nowhere` (source_profile of `lost`)"));
}
