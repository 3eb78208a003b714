#!/bin/sh
# e2e_fs_creds.sh - credentials as the AWS tools find them, end to end:
# mounts against a real S3-compatible server (s3rver, which here knows
# only the key ids handed out by the test: tests/creds/aws_endpoints.js)
# with credentials from credential_process (config file, AWS_PROFILE),
# from a credentials file named by AWS_SHARED_CREDENTIALS_FILE, from an
# ECS container endpoint (with its authorization token, refreshed before
# expiry: the old key is revoked when the new one is issued) and from
# IMDSv2, all on loopback.  The server's request log shows which key id
# signed each upload; our log names the source and the key id's last
# four characters, never a secret or a token.
. "$(dirname "$0")/e2e/lib.sh"

JS=${CARAVAN_S3RVER:-$(cd "$(dirname "$0")" && pwd)/s3/node_modules/s3rver/bin/s3rver.js}
if ! command -v node >/dev/null 2>&1 || [ ! -r "$JS" ]; then
	not_ok "node and s3rver are needed (scripts/s3rver-install.sh)"
	e2e_finish
	exit 1
fi
SRC=$(cd "$(dirname "$0")" && pwd)
ECS_AUTH="Bearer ecs-auth-$$"
LIFETIME=6 # seconds: the container's keys are refreshed after 3
node --openssl-legacy-provider "$SRC/creds/aws_endpoints.js" "$JS" "$T/s3data" \
	"$T/aws.log" "$ECS_AUTH" "$LIFETIME" AKIDPROCESS01 AKIDFILES001 \
	>"$T/ports" 2>"$T/endpoints.err" &
EPID=$!
trap 'kill "$EPID" 2>/dev/null; e2e_cleanup' EXIT
check "the loopback endpoints start" wait_for test -s "$T/ports"
read -r S3P ECSP IMDSP <"$T/ports"

unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN AWS_PROFILE \
	AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE \
	AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_CREDENTIALS_RELATIVE_URI \
	AWS_CONTAINER_AUTHORIZATION_TOKEN AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \
	AWS_EC2_METADATA_SERVICE_ENDPOINT AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE
export AWS_EC2_METADATA_DISABLED=true
mkdir -p "$T/home/.aws"
export HOME="$T/home"
opts() {
	echo "cloud=s3://caravan/$1,s3_endpoint=http://127.0.0.1:$S3P,s3_region=us-east-1,s3_path_style,backup_delay_ms=50"
}
uploaded() {
	getfattr --absolute-names --only-values -n user.caravan.backup "$1" 2>/dev/null | grep -q '^uploaded'
}
# put_with KEYRE PREFIX/SPACE/KEY: the server stored the object in a PUT
# signed with a key id matching KEYRE
put_with() {
	grep -qE "\"ep\":\"s3\",\"key\":\"$1\",\"method\":\"PUT\",\"path\":\"/caravan/$2\",\"status\":200" "$T/aws.log"
}

# ---- the server tells keys apart ----
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
mount_fs "$T/store-x" "$T/mnt-x" "$(opts x)" >/dev/null
check_fails "a key id the server does not know fails the mount" mountpoint -q "$T/mnt-x"
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY

# ---- credential_process, named in the config file, AWS_PROFILE ----
mkdir -p "$T/bin"
cat >"$T/bin/creds helper" <<'EOF'
#!/bin/sh
# a credential_process: prints the AWS CLI's JSON; records its arguments
printf '%s\n' "$@" >"$(dirname "$0")/helper.args"
cat <<JSON
{"Version": 1, "AccessKeyId": "AKIDPROCESS01",
 "SecretAccessKey": "process-secret-value", "SessionToken": "process-token-value"}
JSON
EOF
chmod 755 "$T/bin/creds helper"
cat >"$T/home/.aws/config" <<EOF
[default]
region = us-east-1
[profile proc]
credential_process = "$T/bin/creds helper" --role "the reader"
EOF
export AWS_PROFILE=proc
M=$T/mnt-p
mount_fs "$T/store-p" "$M" "$(opts proc)" || not_ok "mount with credential_process"
mkdir "$M/sp"
echo '{"from":"process"}' >"$M/sp/doc"
check "credential_process: a document is uploaded" wait_for uploaded "$M/sp/doc"
check "... signed with the key id it printed" put_with AKIDPROCESS01 proc/sp/doc
check_eq "... run by the shell with the user's quoting" "$(tr '\n' '|' <"$T/bin/helper.args")" "--role|the reader|"
check "... and our log names it" grep -q "aws credentials fetched from the credential_process (key id ...SS01)" "$T/caravanfs.log"
check "clean unmount" umount_fs "$M"
unset AWS_PROFILE

# ---- AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE ----
mkdir -p "$T/elsewhere"
printf '[files]\naws_access_key_id = AKIDFILES001\naws_secret_access_key = files-secret-value\n' >"$T/elsewhere/credentials"
chmod 600 "$T/elsewhere/credentials"
printf '[profile files]\ncredential_process = false\n' >"$T/elsewhere/config"
export AWS_SHARED_CREDENTIALS_FILE="$T/elsewhere/credentials" AWS_CONFIG_FILE="$T/elsewhere/config"
export AWS_PROFILE=files
M=$T/mnt-f
mount_fs "$T/store-f" "$M" "$(opts files)" || not_ok "mount with AWS_SHARED_CREDENTIALS_FILE"
mkdir "$M/sp"
echo '{"from":"file"}' >"$M/sp/doc"
check "AWS_SHARED_CREDENTIALS_FILE: a document is uploaded" wait_for uploaded "$M/sp/doc"
check "... signed with the file's key id (its keys beat the config file's credential_process)" put_with AKIDFILES001 files/sp/doc
check "clean unmount" umount_fs "$M"
unset AWS_PROFILE AWS_SHARED_CREDENTIALS_FILE AWS_CONFIG_FILE
rm "$T/home/.aws/config"

# ---- the container endpoint, refreshed before expiry ----
export AWS_CONTAINER_CREDENTIALS_FULL_URI="http://127.0.0.1:$ECSP/creds"
export AWS_CONTAINER_AUTHORIZATION_TOKEN="$ECS_AUTH"
M=$T/mnt-c
mount_fs "$T/store-c" "$M" "$(opts ecs)" || not_ok "mount with container credentials"
mkdir "$M/sp"
echo '{"from":"container"}' >"$M/sp/doc1"
check "container: a document is uploaded" wait_for uploaded "$M/sp/doc1"
check "... signed with the first key id issued" put_with ASIAECS00001 ecs/sp/doc1
check "... and our log names it" grep -q "aws credentials fetched from the container endpoint (key id ...0001, expiring " "$T/caravanfs.log"
# uploads go on; the first ones after the refresh point fetch new keys
tick() {
	echo '{"t":1}' >>"$M/sp/tick"
	grep -q '"issued":"ASIAECS00002"' "$T/aws.log"
}
check "the credentials are fetched again before they expire" wait_for tick
check "... which our log reports" wait_for grep -q "aws credentials refreshed from the container endpoint (key id ...0002" "$T/caravanfs.log"
echo '{"after":"refresh"}' >"$M/sp/doc2"
check "a document written after the refresh is uploaded" wait_for uploaded "$M/sp/doc2"
check "... signed with a new key id (the first was revoked)" put_with 'ASIAECS0000[2-9]' ecs/sp/doc2
check_eq "every request carried the authorization token" \
	"$(grep -c '"ep":"ecs".*"status":401' "$T/aws.log")" 0
check "clean unmount" umount_fs "$M"
unset AWS_CONTAINER_CREDENTIALS_FULL_URI AWS_CONTAINER_AUTHORIZATION_TOKEN

# ---- IMDSv2 ----
unset AWS_EC2_METADATA_DISABLED
export AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:$IMDSP"
M=$T/mnt-i
mount_fs "$T/store-i" "$M" "$(opts imds)" || not_ok "mount with instance metadata"
mkdir "$M/sp"
echo '{"from":"imds"}' >"$M/sp/doc"
check "IMDSv2: a document is uploaded" wait_for uploaded "$M/sp/doc"
check "... signed with the role's key id" put_with ASIAIMDS0001 imds/sp/doc
check "... after a session token, the role name and its credentials" sh -c \
	'grep "\"ep\":\"imds\"" "$1" | head -3 | tr -d "\n" | grep -q "PUT\",\"path\":\"/latest/api/token\",\"status\":200.*security-credentials/\",\"status\":200.*security-credentials/caravan-role\",\"status\":200,\"issued\":\"ASIAIMDS0001\""' sh "$T/aws.log"
check_eq "... every GET carried the session token" "$(grep -c '"ep":"imds".*"status":401' "$T/aws.log")" 0
check "clean unmount" umount_fs "$M"

# ---- nothing anywhere ----
export AWS_EC2_METADATA_DISABLED=true
mount_fs "$T/store-n" "$T/mnt-n" "$(opts none)" >/dev/null
check_fails "no credentials anywhere: the mount fails" mountpoint -q "$T/mnt-n"
check "... naming where it looked" grep -q "no aws credentials: AWS_ACCESS_KEY_ID is not set, no profile 'default' with credentials in '$T/home/.aws/credentials' or '$T/home/.aws/config', no container endpoint, and instance metadata is disabled" "$T/caravanfs.log"

# ---- secrets never logged ----
for s in process-secret-value process-token-value files-secret-value \
	'SECRET[0-9a-f]\{8\}' 'TOKEN[A-Za-z0-9+/]\{8\}' IMDSTOKEN ecs-auth; do
	check_eq "our log never shows '$s'" "$(grep -c "$s" "$T/caravanfs.log")" 0
done

e2e_finish
