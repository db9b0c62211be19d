#!/bin/bash
# Entrypoint of the production image (Dockerfile.prod). The image bakes no
# settings in, so one image digest runs in every environment: this script
# writes the settings the container was started with (the task definition's
# environment, infra/task-definitions/frontend-react-js.json, or `docker run
# --env-file`) into two files, then runs the command (nginx):
#
#   /tmp/cruddur/config.js  `window.__CRUDDUR_CONFIG__ = {...}`, which the app
#                           reads (src/lib/config.js); served at /config.js as
#                           a file, so the CSP needs no 'unsafe-inline'
#   /tmp/cruddur/csp.conf   the Content-Security-Policy header, whose
#                           connect-src names the API's and Cognito's origins
#                           (included by nginx-security-headers.conf)
#
# Under /tmp because nginx runs as an unprivileged uid and the root filesystem
# may be read-only: a tmpfs or a volume on /tmp is then the one writable place.
#
# The variables have the names Vite reads for the dev server:
#   REACT_APP_BACKEND_URL           the API (default http://localhost:4567)
#   REACT_APP_AWS_PROJECT_REGION, REACT_APP_AWS_COGNITO_REGION
#   REACT_APP_AWS_USER_POOLS_ID, REACT_APP_CLIENT_ID   (both, or sign-in is off)
#   REACT_APP_AWS_COGNITO_ENDPOINT  where the browser calls Cognito (default:
#                                   AWS's endpoint of the pool's region)
# Each value must match a strict pattern: it lands in JavaScript and in an
# HTTP header, where a quote, a semicolon or a line break would change what
# they say. A bad one stops the container with a line naming the variable.
set -euo pipefail

# Only the tests write elsewhere: nginx reads /tmp/cruddur.
out=${CRUDDUR_RUNTIME_DIR:-/tmp/cruddur}

fail() {
    echo "cruddur-entrypoint: $*" >&2
    exit 1
}

# An http(s) URL with an optional plain path (no query, no user info); group 1
# is its origin.
url_re='^(https?://([A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?)(/[A-Za-z0-9._~/-]*)?$'
region_re='^[a-z]{2}(-[a-z]+)+-[0-9]+$'
pool_re='^[a-z]{2}(-[a-z]+)+-[0-9]+_[A-Za-z0-9]+$'
client_re='^[A-Za-z0-9_+]+$'

# check NAME PATTERN WHAT: the variable's value (empty when unset) must be
# empty or match.
check() {
    local value=${!1:-}
    if [[ -n $value && ! $value =~ $2 ]]; then
        fail "$1 must be $3, not $(printf '%q' "$value")"
    fi
}

# This default is also src/lib/config.js's.
api=${REACT_APP_BACKEND_URL:-http://localhost:4567}
REACT_APP_BACKEND_URL=$api
check REACT_APP_BACKEND_URL "$url_re" "an http(s) URL without query, quotes or spaces (e.g. https://api.example.com)"
check REACT_APP_AWS_COGNITO_ENDPOINT "$url_re" "empty (AWS's endpoint) or an http(s) URL without query, quotes or spaces"
check REACT_APP_AWS_PROJECT_REGION "$region_re" "an AWS region (e.g. us-east-1)"
check REACT_APP_AWS_COGNITO_REGION "$region_re" "an AWS region (e.g. us-east-1)"
check REACT_APP_AWS_USER_POOLS_ID "$pool_re" "a Cognito user pool id (e.g. us-east-1_AbC123)"
check REACT_APP_CLIENT_ID "$client_re" "a Cognito app client id (letters and digits)"

[[ $api =~ $url_re ]]
connect="'self' ${BASH_REMATCH[1]}"
pool=${REACT_APP_AWS_USER_POOLS_ID:-}
client=${REACT_APP_CLIENT_ID:-}
endpoint=${REACT_APP_AWS_COGNITO_ENDPOINT:-}
if [[ -n $pool && -n $client ]]; then
    if [[ -n $endpoint ]]; then
        [[ $endpoint =~ $url_re ]]
        cognito=${BASH_REMATCH[1]}
    else
        # What amazon-cognito-identity-js calls: the region is the pool id's prefix.
        cognito="https://cognito-idp.${pool%%_*}.amazonaws.com"
    fi
    connect="$connect $cognito"
    signin="Cognito at $cognito"
else
    signin="sign-in off (no REACT_APP_AWS_USER_POOLS_ID and REACT_APP_CLIENT_ID)"
fi

csp="default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:"
csp="$csp; font-src 'self'; connect-src $connect; object-src 'none'; base-uri 'self'"
csp="$csp; form-action 'self'; frame-ancestors 'none'"

mkdir -p "$out" 2>/dev/null && [[ -w $out ]] ||
    fail "cannot write $out: with a read-only root filesystem, mount a tmpfs or a volume on /tmp"

# Written whole, then renamed: nginx never reads half a file.
write() {
    local file=$out/$1
    cat >"$file.tmp" && mv -f "$file.tmp" "$file"
}

json_field() {
    printf '  "%s": "%s"' "$1" "${!1:-}"
}

{
    echo '// Written by the container at start (docker-entrypoint.sh): this environment'"'"'s settings.'
    echo 'window.__CRUDDUR_CONFIG__ = Object.freeze({'
    sep=''
    for name in REACT_APP_BACKEND_URL REACT_APP_AWS_PROJECT_REGION REACT_APP_AWS_COGNITO_REGION \
        REACT_APP_AWS_USER_POOLS_ID REACT_APP_CLIENT_ID REACT_APP_AWS_COGNITO_ENDPOINT; do
        printf '%s' "$sep"
        json_field "$name"
        sep=$',\n'
    done
    printf '\n});\n'
} | write config.js

printf 'add_header Content-Security-Policy "%s" always;\n' "$csp" | write csp.conf

echo "cruddur-entrypoint: API $api; $signin"
[[ $# -gt 0 ]] || fail "no command to run (the image's CMD starts nginx)"
exec "$@"
