#!/usr/bin/env python3
"""moto's server (local S3 and Secrets Manager) for the tests and `make emulate`, with one fix.

Usage is moto_server's: `python scripts/moto_server.py -H 127.0.0.1 -p PORT`.

Why the fix: the state store saves the secret by compare-and-swap, `PutSecretValue` under its own
staging label and then `UpdateSecretVersionStage(VersionStage="AWSCURRENT", MoveToVersionId=<new>,
RemoveFromVersionId=<version read>)`. moto 5.2 moves the AWSCURRENT label there but not its
internal "default version": a `GetSecretValue` without `VersionStage` then returns the old version,
and a later plain `PutSecretValue` leaves two versions labelled AWSCURRENT. Real Secrets Manager
keeps exactly one. So the wrapper below also makes the version AWSCURRENT moved to moto's default
version, as AWS behaves. (Checked against moto 5.2.5's secretsmanager/models.py: the backend's
`update_secret_version_stage` edits the labels only; `FakeSecret.set_default_version_id` sets the
default.) The function itself reads with `VersionStage=AWSCURRENT`, which is right on AWS too.
"""

import sys

from moto.secretsmanager.models import SecretsManagerBackend
from moto.server import main

_update_secret_version_stage = SecretsManagerBackend.update_secret_version_stage


def update_secret_version_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
    result = _update_secret_version_stage(
        self, secret_id, version_stage, remove_from_version_id, move_to_version_id
    )
    if version_stage == "AWSCURRENT" and move_to_version_id:
        self.secrets[secret_id].set_default_version_id(move_to_version_id)
    return result


SecretsManagerBackend.update_secret_version_stage = update_secret_version_stage

if __name__ == "__main__":
    main(sys.argv[1:])
