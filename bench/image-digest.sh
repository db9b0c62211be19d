#!/usr/bin/env bash
# For `cargo xtask bench`'s deploy baseline: the digest ECR lists for REPO:latest.
#   bench/image-digest.sh REPO
set -euo pipefail
aws ecr describe-images --repository-name "$1" --image-ids imageTag=latest \
  --query 'imageDetails[0].imageDigest' --output text
