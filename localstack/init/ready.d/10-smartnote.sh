#!/usr/bin/env bash
# LocalStack ready hook: what the stack expects to exist before `make localstack-deploy`.
# The connection strings go into SSM SecureStrings, whose ARNs samconfig.toml's `localstack`
# environment passes as MongoDbUriSecretArn / DatabaseUrlSecretArn (the same runtime path as
# on AWS). Idempotent: LocalStack runs it on every start.
set -euo pipefail

put_secure() {
  awslocal ssm put-parameter --name "$1" --value "$2" --type SecureString --overwrite >/dev/null
  echo "smartnote: SSM parameter $1"
}

put_secure /smartnote/localstack/mongodb-uri \
  "mongodb://mongo:27017/?directConnection=true"
# The compose Postgres has no certificate: plain text, said in the URL (a remote host is
# otherwise verified over TLS, smartnote.db.sql.postgres_tls).
put_secure /smartnote/localstack/database-url \
  "postgresql+pg8000://smartnote:smartnote@postgres:5432/smartnote?sslmode=disable"

# SES refuses to send from an unverified address; LocalStack verifies on request.
awslocal ses verify-email-identity --email-address noreply@smartnote.local
echo "smartnote: SES sender noreply@smartnote.local verified"
