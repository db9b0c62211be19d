//! AWS's own endpoints for the calls signed without an SDK client, when no
//! endpoint is configured: the region's partition (from AWS's
//! `partitions.json`, which the SDK crates embed), FIPS and dual-stack as
//! aws-config's `use_fips` / `use_dual_stack` say. The SDK's clients resolve
//! their own; this table covers the few services without one here.

/// A partition: the region prefixes it holds, its DNS suffixes, the region
/// its global IAM endpoint signs for.
struct Partition {
    prefixes: &'static [&'static str],
    suffix: &'static str,
    dual_stack_suffix: &'static str,
    iam_region: &'static str,
    iam_host: &'static str,
}

const PARTITIONS: [Partition; 6] = [
    Partition {
        prefixes: &["cn-"],
        suffix: "amazonaws.com.cn",
        dual_stack_suffix: "api.amazonwebservices.com.cn",
        iam_region: "cn-north-1",
        iam_host: "iam.cn-north-1.amazonaws.com.cn",
    },
    Partition {
        prefixes: &["us-gov-"],
        suffix: "amazonaws.com",
        dual_stack_suffix: "api.aws",
        iam_region: "us-gov-west-1",
        iam_host: "iam.us-gov.amazonaws.com",
    },
    Partition {
        prefixes: &["us-iso-"],
        suffix: "c2s.ic.gov",
        dual_stack_suffix: "c2s.ic.gov",
        iam_region: "us-iso-east-1",
        iam_host: "iam.us-iso-east-1.c2s.ic.gov",
    },
    Partition {
        prefixes: &["us-isob-"],
        suffix: "sc2s.sgov.gov",
        dual_stack_suffix: "sc2s.sgov.gov",
        iam_region: "us-isob-east-1",
        iam_host: "iam.us-isob-east-1.sc2s.sgov.gov",
    },
    Partition {
        prefixes: &["eu-isoe-"],
        suffix: "cloud.adc-e.uk",
        dual_stack_suffix: "cloud.adc-e.uk",
        iam_region: "eu-isoe-west-1",
        iam_host: "iam.eu-isoe-west-1.cloud.adc-e.uk",
    },
    Partition {
        prefixes: &["us-isof-"],
        suffix: "csp.hci.ic.gov",
        dual_stack_suffix: "csp.hci.ic.gov",
        iam_region: "us-isof-south-1",
        iam_host: "iam.us-isof-south-1.csp.hci.ic.gov",
    },
];

/// The commercial partition: every region no other partition claims.
const AWS: Partition = Partition {
    prefixes: &[],
    suffix: "amazonaws.com",
    dual_stack_suffix: "api.aws",
    iam_region: "us-east-1",
    iam_host: "iam.amazonaws.com",
};

fn partition(region: &str) -> &'static Partition {
    PARTITIONS
        .iter()
        .find(|p| p.prefixes.iter().any(|prefix| region.starts_with(prefix)))
        .unwrap_or(&AWS)
}

/// The DNS suffix of the region's partition (ECR's registry host ends with it).
pub fn dns_suffix(region: &str) -> &'static str {
    partition(region).suffix
}

/// `https://<service>[-fips].<region>.<suffix>/` and the region to sign for.
pub fn default_endpoint(
    service: &str,
    region: &str,
    fips: bool,
    dual_stack: bool,
) -> (String, String) {
    let p = partition(region);
    // IAM is global within a partition: one endpoint, signed for one region.
    if service == "iam" && !fips && !dual_stack {
        return (format!("https://{}/", p.iam_host), p.iam_region.to_string());
    }
    let (service, region) = if service == "iam" {
        (service, p.iam_region)
    } else {
        (service, region)
    };
    let label = if fips {
        format!("{service}-fips")
    } else {
        service.to_string()
    };
    let suffix = if dual_stack {
        p.dual_stack_suffix
    } else {
        p.suffix
    };
    (
        format!("https://{label}.{region}.{suffix}/"),
        region.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_follow_the_regions_partition() {
        let e = |s, r, fips, ds| default_endpoint(s, r, fips, ds).0;
        assert_eq!(
            e("logs", "eu-west-1", false, false),
            "https://logs.eu-west-1.amazonaws.com/"
        );
        assert_eq!(
            e("ssm", "cn-north-1", false, false),
            "https://ssm.cn-north-1.amazonaws.com.cn/"
        );
        assert_eq!(
            e("ssm", "us-east-1", true, false),
            "https://ssm-fips.us-east-1.amazonaws.com/"
        );
        assert_eq!(
            e("ec2", "us-east-1", false, true),
            "https://ec2.us-east-1.api.aws/"
        );
        assert_eq!(
            default_endpoint("iam", "eu-west-1", false, false),
            ("https://iam.amazonaws.com/".into(), "us-east-1".into())
        );
        assert_eq!(
            default_endpoint("iam", "cn-northwest-1", false, false),
            (
                "https://iam.cn-north-1.amazonaws.com.cn/".into(),
                "cn-north-1".into()
            )
        );
    }
}
