use std::process::{Command, Stdio};

use serde_json::{json, Value};

use super::*;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn creds(token: Option<&str>) -> Credentials {
    Credentials {
        access_key_id: "AKIDEXAMPLE".into(),
        secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
        session_token: token.map(Into::into),
        expiry: None,
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map_or("", |(_, v)| v.as_str())
}

#[test]
fn matches_the_aws_test_suite_get_vanilla() {
    let req = SignableRequest {
        method: "GET",
        url: "https://example.amazonaws.com/",
        headers: &[],
        body: b"",
    };
    let headers = sign(
        &req,
        &creds(None),
        "us-east-1",
        "service",
        at(1_440_938_160),
    );
    assert_eq!(header(&headers, "x-amz-date"), "20150830T123600Z");
    assert_eq!(
        header(&headers, "authorization"),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert_eq!(header(&headers, "x-amz-security-token"), "");
}

#[test]
fn times_format_and_parse() {
    assert_eq!(amz_date(at(1_709_251_199)), "20240229T235959Z");
    assert_eq!(amz_date(at(946_681_200)), "19991231T230000Z");
    for s in [
        "2024-02-29T23:59:59Z",
        "2024-02-29T23:59:59.123Z",
        "2024-02-29T23:59:59UTC",
        "2024-03-01T01:59:59+02:00",
        "2024-02-29T20:59:59-03:00",
    ] {
        assert_eq!(parse_time(s).unwrap(), at(1_709_251_199), "{s}");
    }
    assert!(parse_time("yesterday").is_err());
    assert!(parse_time("2024-02-29 23:59:59").is_err());
}

#[test]
fn a_loosely_encoded_query_signs_like_a_strict_one() {
    let sign_url = |url: &str| {
        let req = SignableRequest {
            method: "GET",
            url,
            headers: &[],
            body: b"",
        };
        sign(&req, &creds(None), "eu-west-1", "logs", at(1_709_251_199))
    };
    assert_eq!(
        sign_url("https://h/?b=/api/*&a=x%20y=z"),
        sign_url("https://h/?a=x%20y%3Dz&b=%2Fapi%2F%2A")
    );
    assert_eq!(form(&[("a b", "c/d"), ("e", "*")]), "a%20b=c%2Fd&e=%2A");
}

/// A request signed both here and by botocore: Rust's URL may differ from
/// botocore's when botocore is given the query as `params` (raw values it
/// encodes itself), which checks our decoding and re-encoding too.
struct Case {
    name: &'static str,
    method: &'static str,
    url: &'static str,
    boto_url: &'static str,
    boto_params: &'static [(&'static str, &'static str)],
    headers: &'static [(&'static str, &'static str)],
    body: &'static str,
    token: Option<&'static str>,
    region: &'static str,
    service: &'static str,
    time: u64,
}

const JSON: &str = "application/x-amz-json-1.1";
const FORM: &str = "application/x-www-form-urlencoded; charset=utf-8";
const TOKEN: &str = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+abc/def==";

const CASES: &[Case] = &[
    Case {
        name: "ECS JSON call with x-amz-target",
        method: "POST",
        url: "https://ecs.eu-west-1.amazonaws.com/",
        boto_url: "https://ecs.eu-west-1.amazonaws.com/",
        boto_params: &[],
        headers: &[
            ("content-type", JSON),
            (
                "x-amz-target",
                "AmazonEC2ContainerServiceV20141113.ListClusters",
            ),
        ],
        body: "{}",
        token: None,
        region: "eu-west-1",
        service: "ecs",
        time: 1_709_251_199,
    },
    Case {
        name: "JSON call with a session token and untidy header names and values",
        method: "POST",
        url: "https://logs.ca-central-1.amazonaws.com/",
        boto_url: "https://logs.ca-central-1.amazonaws.com/",
        boto_params: &[],
        headers: &[
            ("Content-Type", JSON),
            ("X-Amz-Target", "Logs_20140328.GetLogEvents"),
            ("x-amz-meta-note", "  two   spaces  inside "),
        ],
        body: r#"{"logGroupName":"/cruddur/backend","limit":10}"#,
        token: Some(TOKEN),
        region: "ca-central-1",
        service: "logs",
        time: 946_681_200,
    },
    Case {
        name: "query-protocol form body (ELBv2)",
        method: "POST",
        url: "https://elasticloadbalancing.us-west-2.amazonaws.com/",
        boto_url: "https://elasticloadbalancing.us-west-2.amazonaws.com/",
        boto_params: &[],
        headers: &[("content-type", FORM)],
        body: "Action=DescribeLoadBalancers&Version=2015-12-01&Names.member.1=cruddur%20alb",
        token: None,
        region: "us-west-2",
        service: "elasticloadbalancing",
        time: 1_709_251_199,
    },
    Case {
        name: "IAM, global, signed for us-east-1, with a session token",
        method: "POST",
        url: "https://iam.amazonaws.com/",
        boto_url: "https://iam.amazonaws.com/",
        boto_params: &[],
        headers: &[("content-type", FORM)],
        body: "Action=GetRole&Version=2010-05-08&RoleName=cruddur-task",
        token: Some(TOKEN),
        region: "us-east-1",
        service: "iam",
        time: 1_709_251_199,
    },
    Case {
        name: "GET whose query needs encoding (spaces, /, *, =, repeats, empty)",
        method: "GET",
        url: "https://servicediscovery.eu-central-1.amazonaws.com/?Path=/api/*&Name=a%20b=c&Name=A&Empty=&Tilde=x~y_z.-",
        boto_url: "https://servicediscovery.eu-central-1.amazonaws.com/",
        boto_params: &[
            ("Path", "/api/*"),
            ("Name", "a b=c"),
            ("Name", "A"),
            ("Empty", ""),
            ("Tilde", "x~y_z.-"),
        ],
        headers: &[],
        body: "",
        token: None,
        region: "eu-central-1",
        service: "servicediscovery",
        time: 1_709_251_199,
    },
    Case {
        name: "GET with an encoded path, dot segments and a query in the URL",
        method: "GET",
        url: "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my%20fn/./x/../invocations?b=%2Fc&a=1",
        boto_url: "https://lambda.us-east-1.amazonaws.com/2015-03-31/functions/my%20fn/./x/../invocations?b=%2Fc&a=1",
        boto_params: &[],
        headers: &[],
        body: "",
        token: Some(TOKEN),
        region: "us-east-1",
        service: "lambda",
        time: 1_709_251_199,
    },
    Case {
        name: "plain http on loopback with a port (moto)",
        method: "POST",
        url: "http://127.0.0.1:5000/",
        boto_url: "http://127.0.0.1:5000/",
        boto_params: &[],
        headers: &[("content-type", FORM)],
        body: "Action=GetCallerIdentity&Version=2011-06-15",
        token: None,
        region: "us-east-1",
        service: "sts",
        time: 1_709_251_199,
    },
];

/// Signs every case with botocore's `SigV4Auth`, its clock fixed at the
/// case's time. Secrets go on stdin, never in argv.
const BOTOCORE: &str = r#"
import datetime, json, sys
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
answers = []
for c in json.load(sys.stdin):
    now = datetime.datetime.fromtimestamp(c["time"], datetime.timezone.utc).replace(tzinfo=None)
    botocore.auth.get_current_datetime = lambda now=now: now
    creds = Credentials(c["access_key"], c["secret_key"], c["token"])
    req = AWSRequest(method=c["method"], url=c["url"], headers=dict(c["headers"]),
                     data=c["body"].encode(), params=[tuple(p) for p in c["params"]])
    botocore.auth.SigV4Auth(creds, c["service"], c["region"]).add_auth(req)
    answers.append(req.headers["Authorization"])
json.dump(answers, sys.stdout)
"#;

/// A Python that has botocore: the sandbox's virtualenv (it has the aws CLI;
/// `cargo xtask test` makes it before this runs), else `python3`. Missing
/// both is a failure, never a skip.
fn python_with_botocore() -> std::path::PathBuf {
    let venv =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sandbox/venv/bin/python");
    let candidates = [venv, "python3".into()];
    candidates
        .iter()
        .find(|p| {
            Command::new(p)
                .args(["-c", "import botocore.auth"])
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        })
        .cloned()
        .unwrap_or_else(|| {
            panic!(
                "this test checks the signer against botocore, and no Python with botocore \
                 was found (tried {candidates:?}): `pip install botocore` or `cargo xtask sandbox up`"
            )
        })
}

#[test]
fn signatures_match_botocore() {
    let input: Vec<Value> = CASES
        .iter()
        .map(|c| {
            let creds = creds(c.token);
            json!({
                "access_key": creds.access_key_id,
                "secret_key": creds.secret_access_key,
                "token": c.token,
                "method": c.method,
                "url": c.boto_url,
                "params": c.boto_params,
                "headers": c.headers,
                "body": c.body,
                "region": c.region,
                "service": c.service,
                "time": c.time,
            })
        })
        .collect();
    let mut child = Command::new(python_with_botocore())
        .args(["-c", BOTOCORE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("starting python");
    let stdin = child.stdin.take().expect("python's stdin");
    serde_json::to_writer(stdin, &input).expect("writing the cases to python");
    let out = child.wait_with_output().expect("running python");
    assert!(out.status.success(), "botocore's script failed");
    let expected: Vec<String> = serde_json::from_slice(&out.stdout).expect("botocore's answer");
    assert_eq!(expected.len(), CASES.len());
    for (case, expected) in CASES.iter().zip(&expected) {
        let req = SignableRequest {
            method: case.method,
            url: case.url,
            headers: case.headers,
            body: case.body.as_bytes(),
        };
        let headers = sign(
            &req,
            &creds(case.token),
            case.region,
            case.service,
            at(case.time),
        );
        assert_eq!(header(&headers, "authorization"), expected, "{}", case.name);
        assert_eq!(
            header(&headers, "x-amz-security-token"),
            case.token.unwrap_or("")
        );
    }
}
