//! The sandbox itself: idempotent `up`, loopback only, `status`, and a `down`
//! that leaves none of its processes running.

mod common;

use common::{alive, run, xtask, Sandbox};

/// Local addresses of listening TCP sockets on `port` (from /proc/net/tcp{,6}).
fn listeners(port: u16) -> Vec<String> {
    let mut found = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let (local, state) = (fields[1], fields[3]);
            let (addr, p) = local.rsplit_once(':').unwrap();
            if state == "0A" && u16::from_str_radix(p, 16).unwrap() == port {
                found.push(addr.to_string());
            }
        }
    }
    found
}

#[test]
fn up_is_idempotent_listens_on_loopback_only_and_down_stops_everything() {
    let sandbox = Sandbox::start(&[]);
    let pids = sandbox.pids();
    assert_eq!(pids.len(), 2, "the AWS side and the registry: {pids:?}");
    assert!(pids.iter().all(|&p| alive(p)));

    // Loopback, and for the AWS side also the sandbox network's gateway (the
    // only host address its tasks reach): nothing beyond the machine.
    let gateway = sandbox.state["gateway"].as_str().unwrap().to_string();
    let gateway_hex: String = gateway
        .split('.')
        .rev()
        .map(|o| format!("{:02X}", o.parse::<u8>().unwrap()))
        .collect();
    for key in ["moto_port", "registry_port", "bridge_port"] {
        let port = sandbox.state[key].as_u64().unwrap() as u16;
        let addrs = listeners(port);
        assert!(!addrs.is_empty(), "nothing listens on {key} {port}");
        // 0100007F is 127.0.0.1 in /proc's byte order.
        assert!(
            addrs
                .iter()
                .all(|a| a == "0100007F" || (key == "moto_port" && *a == gateway_hex)),
            "{key} {port} listens beyond loopback: {addrs:?}"
        );
    }
    let network = sandbox.state["network"].as_str().unwrap().to_string();

    let dir = sandbox.dir.path().display().to_string();
    let again = run(xtask(&[
        "sandbox",
        "up",
        "--state-dir",
        &dir,
        "--no-base-images",
    ]))
    .ok();
    assert!(
        again.stdout.contains("sandbox already up"),
        "{}",
        again.stdout
    );
    assert_eq!(sandbox.pids(), pids, "the second `up` started nothing new");

    // Its own parts; the checkout's docker daemon is listed too when a
    // sandbox started it (`cargo xtask test` does), and is not this one's.
    let running = |stdout: &str| {
        stdout
            .lines()
            .filter(|l| l.split_whitespace().last() == Some("running"))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|part| *part != "dockerd")
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let status = run(xtask(&["sandbox", "status", "--state-dir", &dir])).ok();
    assert_eq!(
        running(&status.stdout),
        ["aws", "registry"],
        "{}",
        status.stdout
    );

    let down = sandbox.down().ok();
    assert!(
        down.stdout.contains("stopped registry, aws"),
        "{}",
        down.stdout
    );
    for pid in pids {
        assert!(!alive(pid), "pid {pid} still running after down");
    }
    // Its containers (the database) and its network are gone; nothing else was touched.
    let left = common::docker(&["ps", "-a", "--filter", &format!("network={network}"), "-q"]);
    assert!(
        String::from_utf8_lossy(&left.stdout).trim().is_empty(),
        "containers left"
    );
    assert!(
        !common::docker(&["network", "inspect", &network])
            .status
            .success(),
        "network left"
    );
    let status = run(xtask(&["sandbox", "status", "--state-dir", &dir])).ok();
    assert!(running(&status.stdout).is_empty(), "{}", status.stdout);
}
