use std::time::SystemTime;

use super::super::testing::{creds, env_at, home, iso_in, moto, serve};
use super::*;
use crate::transport::sigv4::parse_time;

#[tokio::test]
async fn sso_role_credentials_from_the_portal() {
    let answer = r#"{"roleCredentials":{"accessKeyId":"SSO","secretAccessKey":"s","sessionToken":"t","expiration":1893456000000}}"#;
    let (url, server) = serve(vec![(200, answer.into()), (401, "{}".into())]);
    let login = SsoLogin {
        token: "bearer".into(),
        region: "eu-west-1".into(),
        account: "111122223333".into(),
        role: "Deploy Role".into(),
    };
    let found = role_credentials(&url, &login, "new").await.unwrap();
    assert_eq!(found.access_key_id, "SSO");
    assert_eq!(
        found.expiry,
        Some(parse_time("2030-01-01T00:00:00Z").unwrap())
    );
    let err = role_credentials(&url, &login, "new").await.unwrap_err();
    assert!(
        err.to_string()
            .ends_with("run `aws sso login --profile new`"),
        "{err}"
    );
    let seen = server.join().unwrap();
    assert!(
        seen[0].starts_with(
            "GET /federation/credentials?account_id=111122223333&role_name=Deploy%20Role HTTP/1.1"
        ),
        "{}",
        seen[0]
    );
    assert!(
        seen[0].contains("x-amz-sso_bearer_token: bearer\r\n"),
        "{}",
        seen[0]
    );
}

#[tokio::test]
async fn ecs_container_credentials_with_the_token_file() {
    let answer = format!(
        r#"{{"AccessKeyId":"ECS","SecretAccessKey":"s","Token":"t","Expiration":"{}"}}"#,
        iso_in(3600)
    );
    let (url, server) = serve(vec![(200, answer)]);
    let dir = home(&[("token", "the-token\n")]);
    let env = AwsEnv {
        container_full_uri: Some(format!("{url}/creds")),
        container_authorization_token: Some("ignored: the file wins".into()),
        container_authorization_token_file: Some(dir.path().join("token")),
        ..env_at(dir.path())
    };
    let found = creds(env).await.unwrap();
    assert_eq!(found.access_key_id, "ECS");
    assert_eq!(found.session_token.as_deref(), Some("t"));
    let seen = server.join().unwrap();
    assert!(seen[0].starts_with("GET /creds HTTP/1.1"), "{}", seen[0]);
    assert!(
        seen[0].contains("authorization: the-token\r\n"),
        "{}",
        seen[0]
    );
    // The token is never sent in the clear to another host.
    let env = AwsEnv {
        container_full_uri: Some("http://example.com/creds".into()),
        ..env_at(dir.path())
    };
    let err = creds(env).await.unwrap_err().to_string();
    assert!(err.contains("is neither https nor a loopback"), "{err}");
}

#[tokio::test]
async fn assume_role_and_web_identity_against_moto() {
    let moto = moto(false);
    let dir = home(&[
        (
            ".aws/config",
            "[profile base]\naws_access_key_id = AKIDBASE\naws_secret_access_key = s\n\
             [profile deploy]\nrole_arn = arn:aws:iam::123456789012:role/deploy\n\
             source_profile = base\nrole_session_name = ci\n\
             [profile twice]\nrole_arn = arn:aws:iam::123456789012:role/second\n\
             source_profile = deploy\n",
        ),
        ("token", "eyJhbGciOiJIUzI1NiJ9.e30.sig\n"),
    ]);
    let federated = format!(
        "[profile federated]\nrole_arn = arn:aws:iam::123456789012:role/web\n\
         web_identity_token_file = {}\n",
        dir.path().join("token").display()
    );
    let mut text = std::fs::read_to_string(dir.path().join(".aws/config")).unwrap();
    text.push_str(&federated);
    std::fs::write(dir.path().join(".aws/config"), text).unwrap();
    let base = || AwsEnv {
        region: Some("us-east-1".into()),
        endpoint_url: Some(moto.url.clone()),
        ..env_at(dir.path())
    };
    let temporary = |c: &Credentials| {
        c.access_key_id.starts_with("ASIA")
            && c.session_token.as_ref().is_some_and(|t| !t.is_empty())
            && c.expiry.is_some_and(|e| e > SystemTime::now())
    };
    for profile in ["deploy", "twice", "federated"] {
        let env = AwsEnv {
            profile: Some(profile.into()),
            ..base()
        };
        let found = creds(env).await.unwrap();
        assert!(temporary(&found), "{profile}: {found:?}");
    }
    // From the environment, as on EKS.
    let env = AwsEnv {
        role_arn: Some("arn:aws:iam::123456789012:role/web".into()),
        web_identity_token_file: Some(dir.path().join("token")),
        ..base()
    };
    let found = creds(env).await.unwrap();
    assert!(temporary(&found), "{found:?}");
    drop(moto);
}
