#!/bin/sh
# sign-with-openssl.sh CASE_DIR - compute the expected string to sign and
# signature of a case whose canonical request was written by hand, with the
# openssl command line tool only (independent of the code under test).
# Header mode: reads header-canonical-request.txt, writes
# header-string-to-sign.txt and header-signature.txt.
set -e
d=$1
secret=$(sed -n 's/.*"secret_access_key": *"\([^"]*\)".*/\1/p' "$d/context.json")
region=$(sed -n 's/.*"region": *"\([^"]*\)".*/\1/p' "$d/context.json")
service=$(sed -n 's/.*"service": *"\([^"]*\)".*/\1/p' "$d/context.json")
ts=$(sed -n 's/.*"timestamp": *"\([^"]*\)".*/\1/p' "$d/context.json")
amzdate=$(echo "$ts" | tr -d ':-')
date8=$(echo "$amzdate" | cut -c1-8)
hex() { od -An -tx1 | tr -d ' \n'; }
hmac() { openssl dgst -sha256 -mac HMAC -macopt "hexkey:$1" -r | cut -d' ' -f1; }
k=$(printf 'AWS4%s' "$secret" | hex)
k=$(printf '%s' "$date8" | hmac "$k")
k=$(printf '%s' "$region" | hmac "$k")
k=$(printf '%s' "$service" | hmac "$k")
k=$(printf 'aws4_request' | hmac "$k")
crhash=$(openssl dgst -sha256 -r < "$d/header-canonical-request.txt" | cut -d' ' -f1)
printf 'AWS4-HMAC-SHA256\n%s\n%s/%s/%s/aws4_request\n%s' "$amzdate" "$date8" \
	"$region" "$service" "$crhash" > "$d/header-string-to-sign.txt"
hmac "$k" < "$d/header-string-to-sign.txt" | tr -d '\n' > "$d/header-signature.txt"
