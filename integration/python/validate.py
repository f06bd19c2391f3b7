#!/usr/bin/env python3
"""Reference validators for what ct writes, run by the integration tests.

  validate.py dsse PEM KEYID ENVELOPE...   securesystemslib (the in-toto reference
                                           implementation's DSSE) verifies each envelope
                                           with the exported public key; in-toto-attestation
                                           validates each payload as a Statement v1, and SLSA
                                           provenance and verification summary (VSA v1)
                                           predicates against their schema
  validate.py spdx FILE                    pyspdxtools (spdx-tools) parses and validates
  validate.py cyclonedx FILE               cyclonedx-python-lib's strict JSON validator, 1.5

Exits non-zero with the validator's message on any failure.
"""
import json
import subprocess
import sys


def dsse(pem_path, keyid, paths):
    from cryptography.hazmat.primitives import serialization
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    with open(pem_path, "rb") as f:
        public = serialization.load_pem_public_key(f.read())
    key = SSlibKey.from_crypto(public, keyid=keyid, scheme="ed25519")
    for path in paths:
        with open(path) as f:
            env = Envelope.from_dict(json.load(f))
        verified = env.verify([key], 1)
        if keyid not in verified:
            sys.exit(f"{path}: not verified by {keyid}")
        pb = json_format.Parse(env.payload, statement_pb2.Statement())
        Statement.copy_from_pb(pb).validate()
        if pb.predicate_type == "https://slsa.dev/provenance/v1":
            from in_toto_attestation.predicates.provenance.v1 import provenance_pb2

            # The SLSA v1 protobuf schema: unknown or mistyped fields are refused.
            pred = json.loads(env.payload)["predicate"]
            ppb = json_format.Parse(json.dumps(pred), provenance_pb2.Provenance())
            if not (ppb.build_definition.build_type and ppb.run_details.builder.id):
                sys.exit(f"{path}: provenance lacks buildType or builder.id (required by SLSA v1)")
        if pb.predicate_type == "https://slsa.dev/verification_summary/v1":
            from in_toto_attestation.predicates.vsa.v1 import vsa_pb2

            # The VSA v1 protobuf schema: unknown or mistyped fields are
            # refused (timeVerified must be an RFC 3339 timestamp). Its
            # verified_levels is a single string (in-toto/attestation#425,
            # fixed by #429, unreleased in 0.9.3) where the SLSA spec, which
            # wins, has an array of strings: that field is checked by the spec.
            pred = json.loads(env.payload)["predicate"]
            levels = pred.pop("verifiedLevels", None)
            if not (isinstance(levels, list) and levels and all(isinstance(l, str) and l for l in levels)):
                sys.exit(f"{path}: verifiedLevels is not a non-empty array of strings (SLSA VSA v1)")
            vpb = json_format.Parse(json.dumps(pred), vsa_pb2.VerificationSummary())
            required = (vpb.verifier.id, vpb.resource_uri, vpb.verification_result, vpb.slsa_version)
            if not all(required) or not vpb.HasField("time_verified"):
                sys.exit(f"{path}: VSA lacks a field SLSA VSA v1 requires")
            if vpb.verification_result not in ("PASSED", "FAILED"):
                sys.exit(f"{path}: verificationResult {vpb.verification_result!r}")
        print(f"{path}: DSSE verified, {pb.predicate_type} statement valid")


def spdx(path):
    r = subprocess.run(["pyspdxtools", "-i", path], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"pyspdxtools refused {path}:\n{r.stdout}{r.stderr}")
    print(f"{path}: valid SPDX")


def cyclonedx(path):
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    with open(path) as f:
        errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(f.read())
    if errors:
        sys.exit(f"{path}: invalid CycloneDX 1.5: {errors}")
    print(f"{path}: valid CycloneDX 1.5")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "dsse":
        dsse(args[0], args[1], args[2:])
    elif cmd == "spdx":
        spdx(args[0])
    elif cmd == "cyclonedx":
        cyclonedx(args[0])
    else:
        sys.exit(f"unknown check {cmd}")
