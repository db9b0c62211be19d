#!/usr/bin/env bash
# Baseline for `cargo xtask bench`: log in and push the way the old
# bin/ecr/login and bin/*/push scripts did it.
#   bench/push-baseline.sh REGISTRY LOCAL_IMAGE REPO GIT_TAG
set -euo pipefail
registry=$1 image=$2 repo=$3 tag=$4
aws ecr get-login-password | docker login --username AWS --password-stdin "$registry"
for t in latest "$tag"; do
  docker tag "$image" "$registry/$repo:$t"
  docker push "$registry/$repo:$t"
done
