use super::*;

#[test]
fn the_command_line_is_consistent() {
    Cli::command().debug_assert();
}

/// A child process of the tool gets every setting: `to_env` names each
/// variable the command line reads.
#[test]
fn every_setting_is_handed_to_child_processes() {
    let mut argv = vec!["xtask".to_string(), "status".to_string()];
    let command = Cli::command();
    let declared: Vec<String> = command
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_string_lossy().to_string();
            argv.push(format!("--{}", a.get_long()?));
            argv.push(match a.get_id().as_str() {
                "base_images" => "public".into(),
                "lb_port" => "8080".into(),
                "lb_https_port" => "8443".into(),
                _ => "x".into(),
            });
            Some(env)
        })
        .collect();
    let cli = Cli::try_parse_from(&argv).unwrap();
    let handed: Vec<&str> = cli.settings.to_env().iter().map(|(k, _)| *k).collect();
    for name in &declared {
        assert!(handed.contains(&name.as_str()), "{name} is not handed on");
    }
    assert_eq!(handed.len(), declared.len());
}

#[test]
fn build_arg_needs_a_key() {
    assert_eq!(parse_build_arg("A=b=c"), Ok(("A".into(), "b=c".into())));
    assert!(parse_build_arg("=x").is_err());
    assert!(parse_build_arg("nokey").is_err());
}

#[test]
fn settings_come_from_flags_and_the_environment_only_through_clap() {
    let cli = Cli::try_parse_from([
        "xtask",
        "status",
        "--cluster",
        "c2",
        "--subnets",
        "subnet-a,subnet-b",
        "--base-images",
        "sandbox",
    ])
    .unwrap();
    assert_eq!(cli.settings.cluster, "c2");
    assert_eq!(cli.settings.subnets, ["subnet-a", "subnet-b"]);
    assert_eq!(cli.settings.base_images, Some(BaseImages::Sandbox));
}

#[test]
fn task_role_is_a_role_name_or_arn() {
    assert!(parse_role("CruddurSetupTaskRole").is_ok());
    assert!(parse_role("arn:aws:iam::123456789012:role/path/Setup.Role-1").is_ok());
    assert!(parse_role("").is_err());
    assert!(parse_role("no spaces").is_err());
    assert!(parse_role("arn:aws:iam::123456789012:user/someone").is_err());
    assert!(parse_role(&"r".repeat(65)).is_err());
}
