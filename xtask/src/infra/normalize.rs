//! Definitions as comparable JSON, so deploy registers only what changed and
//! diff shows only real differences.

use serde_json::Value;

use super::{ServiceDefinition, TaskDefinition};

/// A task definition as comparable JSON: ECS's defaults made explicit, lists
/// whose order means nothing sorted, cpu/memory as strings.
pub fn normalize_task_definition(td: &TaskDefinition) -> Value {
    let mut td = td.clone();
    let awsvpc = td.network_mode.as_deref() == Some("awsvpc");
    td.container_definitions.sort_by(|a, b| a.name.cmp(&b.name));
    for c in &mut td.container_definitions {
        c.essential.get_or_insert(true);
        c.environment.sort_by(|a, b| a.name.cmp(&b.name));
        c.secrets.sort_by(|a, b| a.name.cmp(&b.name));
        c.port_mappings.sort_by_key(|p| p.container_port);
        for p in &mut c.port_mappings {
            p.protocol.get_or_insert_with(|| "tcp".into());
            if awsvpc {
                p.host_port.get_or_insert(p.container_port);
            }
        }
        if let Some(h) = &mut c.health_check {
            h.interval.get_or_insert(30);
            h.timeout.get_or_insert(5);
            h.retries.get_or_insert(3);
        }
    }
    serde_json::to_value(td).unwrap_or(Value::Null)
}

/// The service settings to compare: `wanted` as rendered, and `live` with
/// only the fields `wanted` sets and ECS reports.
pub fn normalize_service_pair(
    wanted: &ServiceDefinition,
    live: &ServiceDefinition,
) -> (Value, Value) {
    let mut wanted = wanted.clone();
    wanted.cluster = None;
    let mut live = live.clone();
    // Deploy does not change the desired count of a running service (autoscaling may own it).
    wanted.desired_count = None;
    live.desired_count = None;
    if let Some(n) = &mut wanted.network_configuration {
        n.awsvpc_configuration.subnets.sort();
        n.awsvpc_configuration.security_groups.sort();
    }
    if let Some(n) = &mut live.network_configuration {
        n.awsvpc_configuration.subnets.sort();
        n.awsvpc_configuration.security_groups.sort();
    }
    let (w, l) = (
        serde_json::to_value(&wanted).unwrap_or(Value::Null),
        serde_json::to_value(&live).unwrap_or(Value::Null),
    );
    let (Value::Object(mut w), Value::Object(l)) = (w, l) else {
        return (Value::Null, Value::Null);
    };
    // The task definition is compared on its own; fields ECS does not report cannot be compared.
    w.remove("taskDefinition");
    let l: serde_json::Map<String, Value> =
        l.into_iter().filter(|(k, _)| w.contains_key(k)).collect();
    w.retain(|k, _| l.contains_key(k));
    (Value::Object(w), Value::Object(l))
}
