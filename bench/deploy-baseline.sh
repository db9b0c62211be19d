#!/usr/bin/env bash
# Baseline for `cargo xtask bench`: one deploy the way the old bin/*/deploy
# scripts did it, with the aws CLI: register the task definition, force a new
# deployment, and wait until the service is stable.
#   bench/deploy-baseline.sh TASK_DEFINITION_JSON CLUSTER SERVICE
set -euo pipefail
td_file=$1 cluster=$2 service=$3
arn=$(aws ecs register-task-definition --cli-input-json "file://$td_file" \
  --query taskDefinition.taskDefinitionArn --output text)
aws ecs update-service --cluster "$cluster" --service "$service" \
  --task-definition "$arn" --force-new-deployment > /dev/null
aws ecs wait services-stable --cluster "$cluster" --services "$service"
