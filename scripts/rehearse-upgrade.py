"""The upgrade from release 1, rehearsed on moto's CloudFormation (run by
scripts/rehearse-upgrade, which installs what it needs and starts moto).

1. Both templates go through the SAM transform offline (aws-sam-translator): the first
   release's (tests/fixtures/release-1/template.yaml, as tagged) and this one.
2. The first release's stack is created with the parameters it took, and its buckets
   get the first release's data (tests/fixtures/release-1).
3. The stack is updated to this template with ONLY those parameters, each as its
   previous value (what a plain `sam deploy` sends). The update must succeed, every
   object must be there unchanged, in the same buckets.
4. It is updated again with DomainName and ApiDomainName: the functions' links follow.
   With Audiences too, on the template resolved with them (moto models neither
   CloudFront nor Secrets Manager in CloudFormation): the sign-in function, the key
   group with the given public key and the key's secret are made, only the audience
   behaviours trust the group, and the state bucket lets only the distribution read
   audiences/ and keeps blocking public access.
5. The backup, restore and uninstall steps of docs/operations.md run as written (the
   AWS CLI against moto): backup, delete the stack (the state bucket stays, with its
   data), a new stack restored from the backup, then the kept bucket removed with all
   its versions.

moto models some resource types in CloudFormation and not others. Those it does not
(CloudFront, bucket policies, the HTTP API, Secrets Manager, alarms, ...) are left out
of what moto deploys, each reference to one replaced by a stand-in string, and named
in the output. What they would be is checked on the transformed template itself, with
its conditions resolved for the same parameters: no public bucket policy, the
distribution's alias and certificate. moto creates buckets without applying their
lifecycle, versioning or public access block; those are checked the same way, and the
state bucket's versioning is switched on by hand where CloudFormation would.
"""

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from pathlib import Path

import boto3
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
RELEASE_1 = ROOT / "tests/fixtures/release-1"
CODE_BUCKET = "openmic-rehearsal-code"

# The first release's parameters, as its README had a deploy give them.
RELEASE_1_PARAMETERS = {
    "GitlabProjectId": "42",
    "GitlabWebhookSecret": "test-webhook-secret-0123456789",
    "GitlabUrl": "https://gitlab.example.com",
    "GitlabToken": "glpat-rehearsal-token",
    "Publishers": "alice",
    "AlertToken": "test-alert-token-0123456789",
    "MailFrom": "openmic@status.example.com",
    "MaintainerEmails": "oncall@example.com",
    "AlarmEmail": "oncall@example.com",
}

# Every key prefix with a limited life and where the code writes it (the code's
# constants: claims/ openmic_core::message::CLAIM_PREFIX, the others in
# openmic::subscriptions; tests/tests/template.rs checks the template against them).
STATE_PREFIXES_THAT_EXPIRE = ["claims/", "updates/", "deliveries/", "subscriber-limits/"]

failures = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        failures.append(name)
    return ok


START = time.monotonic()


def step(text):
    print(f"\n==> [{time.monotonic() - START:5.1f} s] {text}", flush=True)


# --- the SAM transform ---------------------------------------------------------------


class NoManagedPolicies:
    """The transform asks for AWS's managed policies only for a function without a
    role of its own; every function here has one."""

    def load(self):
        return {}


def translated(path):
    template = yaml_parse(path.read_text())
    template["Globals"]["Function"]["CodeUri"] = f"s3://{CODE_BUCKET}/bootstrap.zip"
    return transform(template, {}, NoManagedPolicies())


# --- what moto deploys -------------------------------------------------------------


def moto_types():
    from moto.cloudformation.parsing import get_model_map

    return set(get_model_map())


def for_moto(template, supported, tag, absent=()):
    """The template less the resources moto does not model, and less those of the
    conditions in `absent` (false for every deploy of the rehearsal: moto keeps such
    a resource as nothing in the stack, and then fails every describe_stack_resource
    of the stack); references to them become stand-in strings. Returns it and the
    left-out resources by type. FIFO queues get a name ending in .fifo (with `tag`),
    as CloudFormation makes one and moto does not."""
    left_out = {
        name: r["Type"]
        for name, r in template["Resources"].items()
        if r["Type"] not in supported
    }
    conditional = {
        name: r["Type"]
        for name, r in template["Resources"].items()
        if r.get("Condition") in absent and name not in left_out
    }

    def stand_in(name, attribute=None):
        return f"stand-in-{name}" + (f"-{attribute}" if attribute else "")

    def sub(text):
        def one(m):
            name, _, attribute = m.group(1).partition(".")
            return stand_in(name, attribute or None) if name in left_out else m.group(0)

        return re.sub(r"\$\{([A-Za-z0-9.:]+)\}", one, text)

    def walk(node):
        if isinstance(node, list):
            return [walk(n) for n in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Ref"} and node["Ref"] in left_out:
            return stand_in(node["Ref"])
        if set(node) == {"Fn::GetAtt"}:
            target = node["Fn::GetAtt"]
            name, attribute = target.split(".", 1) if isinstance(target, str) else target
            if name in left_out:
                return stand_in(name, attribute)
        if set(node) == {"Fn::Sub"}:
            value = node["Fn::Sub"]
            if isinstance(value, str):
                return {"Fn::Sub": sub(value)}
            return {"Fn::Sub": [sub(value[0]), walk(value[1])]}
        return {k: walk(v) for k, v in node.items()}

    left_out.update(conditional)
    out = dict(template)
    resources = {}
    for name, r in template["Resources"].items():
        if name in left_out:
            continue
        r = walk(r)
        depends = r.get("DependsOn")
        if isinstance(depends, str):
            depends = [depends]
        if depends is not None:
            kept = [d for d in depends if d not in left_out]
            if kept:
                r["DependsOn"] = kept
            else:
                del r["DependsOn"]
        props = r.get("Properties", {})
        if r["Type"] == "AWS::SQS::Queue" and props.get("FifoQueue") and "QueueName" not in props:
            props["QueueName"] = f"{name}-{tag}.fifo"
        resources[name] = r
    out["Resources"] = resources
    out["Outputs"] = walk(template.get("Outputs", {}))
    by_type = {}
    for name, ty in left_out.items():
        if name not in conditional:
            by_type.setdefault(ty, []).append(name)
    return out, by_type


# --- the transformed template, resolved for some parameters -----------------------


class Resolved:
    """The template's conditions and values for given parameters; references to
    resources and their attributes are left as they are."""

    PSEUDO = {
        "AWS::Region": REGION,
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::StackName": "openmic",
        "AWS::StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/openmic/11111111-2222-3333-4444-555555555555",
    }
    NO_VALUE = object()

    def __init__(self, template, given):
        self.template = template
        self.params = {}
        for name, p in template.get("Parameters", {}).items():
            value = given.get(name, p.get("Default"))
            if value is None:
                raise ValueError(f"no value for parameter {name}")
            self.params[name] = str(value)
        self.conditions = {}

    def condition(self, name):
        if name not in self.conditions:
            self.conditions[name] = self.value(self.template["Conditions"][name])
        return self.conditions[name]

    def value(self, node):
        if isinstance(node, list):
            return [v for v in (self.value(n) for n in node) if v is not self.NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (fn, arg), = node.items()
            if fn == "Ref":
                if arg == "AWS::NoValue":
                    return self.NO_VALUE
                if arg in self.params:
                    return self.params[arg]
                if arg in self.PSEUDO:
                    return self.PSEUDO[arg]
                return node
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::If":
                name, yes, no = arg
                return self.value(yes if self.condition(name) else no)
            if fn == "Fn::Equals":
                a, b = (self.value(x) for x in arg)
                return a == b
            if fn == "Fn::Not":
                return not self.value(arg[0])
            if fn == "Fn::And":
                return all(self.value(x) for x in arg)
            if fn == "Fn::Or":
                return any(self.value(x) for x in arg)
            if fn == "Fn::Sub" and isinstance(arg, str):
                def one(m):
                    name = m.group(1)
                    if name in self.params:
                        return self.params[name]
                    return self.PSEUDO.get(name, m.group(0))

                return {"Fn::Sub": re.sub(r"\$\{([A-Za-z0-9:]+)\}", one, arg)}
        out = {}
        for k, v in node.items():
            v = self.value(v)
            if v is not self.NO_VALUE:
                out[k] = v
        return out

    def resources(self):
        out = {}
        for name, r in self.template["Resources"].items():
            if "Condition" in r and not self.condition(r["Condition"]):
                continue
            out[name] = self.value(r)
        return out

    def rule_failures(self):
        failed = []
        for name, rule in self.template.get("Rules", {}).items():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            for a in rule["Assertions"]:
                if not self.value(a["Assert"]):
                    failed.append(f"{name}: {a.get('AssertDescription', '')}")
        return failed

    def parameter_problems(self):
        """What CloudFormation would refuse of the values: AllowedPattern (matched
        whole), AllowedValues, MinLength, MaxLength."""
        problems = []
        for name, p in self.template.get("Parameters", {}).items():
            v = self.params[name]
            if "AllowedPattern" in p and not re.fullmatch(p["AllowedPattern"], v):
                problems.append(f"{name}={v!r} does not match {p['AllowedPattern']}")
            if "AllowedValues" in p and v not in [str(x) for x in p["AllowedValues"]]:
                problems.append(f"{name}={v!r} is not one of {p['AllowedValues']}")
            if "MinLength" in p and len(v) < int(p["MinLength"]):
                problems.append(f"{name} is shorter than {p['MinLength']}")
            if "MaxLength" in p and len(v) > int(p["MaxLength"]):
                problems.append(f"{name} is longer than {p['MaxLength']}")
        return problems


def public_statements(policy):
    """The Allow statements anyone may use (Principal * or AWS: *)."""
    out = []
    for s in policy.get("Statement", []):
        principal = s.get("Principal")
        anyone = principal == "*" or (
            isinstance(principal, dict)
            and principal.get("AWS") in ("*", ["*"])
        )
        if s.get("Effect") == "Allow" and anyone:
            out.append(s)
    return out


def check_resolved(label, template, given):
    """The properties of what moto leaves out or does not apply, for these
    parameters."""
    r = Resolved(template, given)
    check(f"{label}: the parameters pass the template's constraints", not r.parameter_problems(), r.parameter_problems())
    check(f"{label}: the template's rules hold", not r.rule_failures(), r.rule_failures())
    res = r.resources()
    policies = [x for x in res.values() if x["Type"] == "AWS::S3::BucketPolicy"]
    public = [s for p in policies for s in public_statements(p["Properties"]["PolicyDocument"])]
    check(f"{label}: no bucket policy lets anyone read", not public, public)
    for name, bucket in res.items():
        if bucket["Type"] != "AWS::S3::Bucket":
            continue
        props = bucket["Properties"]
        block = props.get("PublicAccessBlockConfiguration", {})
        check(
            f"{label}: {name} blocks public access (all four settings)",
            all(block.get(k) is True for k in ["BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"]),
            block,
        )
        check(f"{label}: {name} has no website endpoint", "WebsiteConfiguration" not in props)
    state = res["StateBucket"]
    rules = state["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    expiring = {x.get("Prefix") for x in rules if x.get("Status") == "Enabled" and "ExpirationInDays" in x}
    check(
        f"{label}: the state bucket expires {', '.join(STATE_PREFIXES_THAT_EXPIRE)}",
        set(STATE_PREFIXES_THAT_EXPIRE) <= expiring,
        sorted(expiring, key=str),
    )
    status_rules = res["StatusBucket"]["Properties"].get("LifecycleConfiguration", {}).get("Rules", [])
    misplaced = [x for x in status_rules if x.get("Prefix") in STATE_PREFIXES_THAT_EXPIRE]
    check(f"{label}: the status bucket has no rule for the state bucket's keys", not misplaced, misplaced)
    check(
        f"{label}: the state bucket is versioned, old versions expire",
        state["Properties"].get("VersioningConfiguration", {}).get("Status") == "Enabled"
        and any("NoncurrentVersionExpiration" in x for x in rules),
        state["Properties"].get("VersioningConfiguration"),
    )
    check(
        f"{label}: the state bucket is retained on delete and on replacement",
        state.get("DeletionPolicy") == "Retain" and state.get("UpdateReplacePolicy") == "Retain",
        (state.get("DeletionPolicy"), state.get("UpdateReplacePolicy")),
    )
    return res


def audience_pages(template, domains):
    """Audiences on the stack: what CloudFormation would make, on the template resolved
    with them (moto models none of CloudFront, nor Secrets Manager in CloudFormation)."""
    step("audience pages: the stack with Audiences, checked on the template")
    audiences = {
        "Audiences": "staff=ops,eng; acme=customers/acme",
        "GitlabOidcClientId": "openmic-audiences",
        "GitlabOidcClientSecret": "gloas-rehearsal-secret",
        "CloudFrontPublicKey": "-----BEGIN PUBLIC KEY-----\nMIIB...\n-----END PUBLIC KEY-----\n",
    }
    res = check_resolved("with audiences", template, {**RELEASE_1_PARAMETERS, **domains, **audiences})
    without = Resolved(template, {**RELEASE_1_PARAMETERS, **domains}).resources()
    made = sorted(set(res) - set(without))
    check(
        "with Audiences the stack makes the sign-in function, the key group and the key's secret",
        {"SigninFunction", "AudienceKeyGroup", "AudiencePublicKey", "AudienceKeySecret", "SigninRole"} <= set(made),
        made,
    )
    group = res["AudienceKeyGroup"]["Properties"]["KeyGroupConfig"]
    key = res["AudiencePublicKey"]["Properties"]["PublicKeyConfig"]
    check(
        "the key group holds the stack's public key, which is CloudFrontPublicKey",
        group["Items"] == [{"Ref": "AudiencePublicKey"}] and key["EncodedKey"] == audiences["CloudFrontPublicKey"],
        (group, key),
    )
    dist = res["StatusDistribution"]["Properties"]["DistributionConfig"]
    trusting = [b for b in dist.get("CacheBehaviors", []) if b.get("TrustedKeyGroups")]
    check(
        "the audience behaviours, and only they, trust the key group, on the state bucket's audiences/",
        len(trusting) == 10
        and all(b["TrustedKeyGroups"] == [{"Ref": "AudienceKeyGroup"}] and b["TargetOriginId"] == "audience-pages" for b in trusting)
        and "TrustedKeyGroups" not in dist["DefaultCacheBehavior"],
        trusting,
    )
    origin = next((o for o in dist["Origins"] if o["Id"] == "audience-pages"), {})
    check(
        "the audience origin is the state bucket's audiences/ through Origin Access Control",
        origin.get("DomainName") == {"Fn::GetAtt": ["StateBucket", "RegionalDomainName"]}
        and origin.get("OriginPath") == "/audiences"
        and origin.get("OriginAccessControlId") == {"Fn::GetAtt": ["StatusOriginAccessControl", "Id"]},
        origin,
    )
    grants = [s for s in res["StateBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    check(
        "the state bucket lets only this distribution read audiences/*, and keeps blocking public access",
        len(grants) == 1
        and grants[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        and grants[0]["Resource"] == {"Fn::Sub": "${StateBucket.Arn}/audiences/*"}
        and "distribution/${StatusDistribution}" in grants[0]["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"],
        grants,
    )
    check(
        "the sign-in function's role reads the key's secret alone",
        [s for p in res["SigninRole"]["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"] if "secretsmanager" in str(s)]
        == [{"Sid": "CookieKey", "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": {"Ref": "AudienceKeySecret"}}],
        res["SigninRole"]["Properties"]["Policies"],
    )
    check("with Audiences and no key the rules refuse the stack", bool(Resolved(template, {**RELEASE_1_PARAMETERS, "Audiences": "staff=ops"}).rule_failures()))


# --- moto --------------------------------------------------------------------------


def clients(endpoint):
    session = boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    return {
        name: session.client(name, endpoint_url=endpoint)
        for name in ["cloudformation", "s3", "lambda"]
    }


def moto_config(endpoint, use_docker):
    req = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps({"lambda": {"use_docker": use_docker}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(req).read()


def code_bucket(s3):
    # Made once per server: a second rehearsal against the same moto finds it there.
    try:
        s3.create_bucket(Bucket=CODE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    buf = BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    s3.put_object(Bucket=CODE_BUCKET, Key="bootstrap.zip", Body=buf.getvalue())


def outputs(cf, stack):
    d = cf.describe_stacks(StackName=stack)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in d.get("Outputs", [])}


def stack_status(cf, stack):
    return cf.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"]


def bucket_objects(s3, bucket):
    """Each key with the MD5 of its body (S3's ETag of a single-part upload)."""
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            out[o["Key"]] = o["ETag"].strip('"')
    return out


def bucket_exists(s3, bucket):
    return bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def files_under(root):
    """Each file under `root` with the MD5 of its bytes."""
    return {
        p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def fixture(part):
    return files_under(RELEASE_1 / part)


def upload(s3, bucket, root):
    for p in sorted(root.rglob("*")):
        if p.is_file():
            s3.put_object(Bucket=bucket, Key=p.relative_to(root).as_posix(), Body=p.read_bytes())


def env_of(lam, cf, stack, logical):
    name = cf.describe_stack_resource(StackName=stack, LogicalResourceId=logical)[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    return lam.get_function_configuration(FunctionName=name)["Environment"]["Variables"]


def documented(name):
    """The shell block of docs/operations.md marked `<!-- rehearsed: NAME -->`."""
    text = (ROOT / "docs/operations.md").read_text()
    m = re.search(r"<!-- rehearsed: " + re.escape(name) + r" -->\s*```sh\n(.*?)```", text, re.S)
    if not m:
        raise SystemExit(f"docs/operations.md: no block marked rehearsed: {name}")
    return m.group(1)


def run_documented(name, endpoint, stack, cwd, extra=None):
    env = dict(os.environ)
    env.update(
        {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_PAGER": "",
            "STACK": stack,
            "PATH": f"{ROOT / '.venv/bin'}:{env['PATH']}",
        }
    )
    env.update(extra or {})
    script = "set -euo pipefail\n" + documented(name)
    done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, capture_output=True, text=True)
    check(f"docs/operations.md '{name}' runs", done.returncode == 0, done.stderr[-2000:])
    return done


def wait(cf, stack, want):
    # moto acts at once; the loop is for a server that does not.
    for _ in range(50):
        status = stack_status(cf, stack)
        if not status.endswith("_IN_PROGRESS"):
            break
        time.sleep(0.1)
    return check(f"{stack}: {want}", status == want, status)


def main():
    endpoint = os.environ.get("OPENMIC_TEST_AWS_ENDPOINT")
    if not endpoint:
        raise SystemExit("rehearse-upgrade: set OPENMIC_TEST_AWS_ENDPOINT (scripts/rehearse-upgrade does)")
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    c = clients(endpoint)
    cf, s3, lam = c["cloudformation"], c["s3"], c["lambda"]
    supported = moto_types()

    step("the SAM transform of both templates (offline)")
    old_cfn = translated(RELEASE_1 / "template.yaml")
    new_cfn = translated(ROOT / "template.yaml")
    suffix = uuid.uuid4().hex[:8]
    # Every deploy below is without Audiences: what exists only with them is checked
    # on the template, resolved with them (the step "audience pages").
    absent = ["HasAudiences"]
    old_moto, _ = for_moto(old_cfn, supported, suffix)
    new_moto, left_out = for_moto(new_cfn, supported, suffix, absent)
    fresh_moto, _ = for_moto(new_cfn, supported, suffix + "-restored", absent)
    print("moto does not model, so left out and checked on the template instead:")
    for ty, names in sorted(left_out.items()):
        print(f"  {ty}: {', '.join(sorted(names))}")
    new_params = set(new_cfn["Parameters"])
    old_params = set(old_cfn["Parameters"])
    added = sorted(new_params - old_params)
    no_default = [p for p in added if "Default" not in new_cfn["Parameters"][p]]
    check(f"each of the {len(added)} parameters added since release 1 has a default", not no_default, no_default)
    check("no parameter of release 1 is gone", old_params <= new_params, sorted(old_params - new_params))

    stack = f"openmic-rehearsal-{suffix}"
    code_bucket(s3)
    moto_config(endpoint, use_docker=False)
    try:
        rehearse(endpoint, cf, s3, lam, stack, old_moto, new_moto, fresh_moto, new_cfn, suffix)
    finally:
        moto_config(endpoint, use_docker=True)
    print()
    if failures:
        print(f"rehearsal: {len(failures)} checks failed")
        sys.exit(1)
    print("rehearsal: every check passed")


def rehearse(endpoint, cf, s3, lam, stack, old_moto, new_moto, fresh_moto, new_cfn, suffix):
    step(f"release 1: create {stack} and give it release 1's data")
    cf.create_stack(
        StackName=stack,
        TemplateBody=json.dumps(old_moto),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in RELEASE_1_PARAMETERS.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    if not wait(cf, stack, "CREATE_COMPLETE"):
        return
    before = outputs(cf, stack)
    state, status = before["StateBucketName"], before["StatusBucketName"]
    upload(s3, state, RELEASE_1 / "state")
    upload(s3, status, RELEASE_1 / "status")

    step("this release: update with only release 1's parameters, each its previous value")
    try:
        cf.update_stack(
            StackName=stack,
            TemplateBody=json.dumps(new_moto),
            Parameters=[{"ParameterKey": k, "UsePreviousValue": True} for k in RELEASE_1_PARAMETERS],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
    except Exception as e:  # noqa: BLE001 - the error is the finding
        check("the update with release 1's parameters is accepted", False, e)
        return
    if not wait(cf, stack, "UPDATE_COMPLETE"):
        return
    after = outputs(cf, stack)
    check("the state bucket is the same bucket", after["StateBucketName"] == state, after["StateBucketName"])
    check("the status bucket is the same bucket", after["StatusBucketName"] == status, after["StatusBucketName"])
    check("every state object survived, unchanged", bucket_objects(s3, state) == fixture("state"))
    check("every status object survived, unchanged", bucket_objects(s3, status) == fixture("status"))
    notifier = env_of(lam, cf, stack, "NotifierFunction")
    check(
        "ALERT_LINK_SECRET is the stack's generated secret",
        notifier.get("ALERT_LINK_SECRET") == "{{resolve:secretsmanager:stand-in-AlertLinkSecretGenerated:SecretString}}",
        notifier.get("ALERT_LINK_SECRET"),
    )
    check(
        "STATUS_PAGE_URL is still the distribution's (no DomainName)",
        notifier.get("STATUS_PAGE_URL") == "https://stand-in-StatusDistribution-DomainName",
        notifier.get("STATUS_PAGE_URL"),
    )
    res = check_resolved("updated", new_cfn, RELEASE_1_PARAMETERS)
    dist = res["StatusDistribution"]["Properties"]["DistributionConfig"]
    check("without DomainName: no alias, CloudFront's certificate", "Aliases" not in dist and dist["ViewerCertificate"] == {"CloudFrontDefaultCertificate": True}, dist.get("ViewerCertificate"))
    origin = dist["Origins"][0]
    check(
        "CloudFront reads the bucket through Origin Access Control",
        origin.get("OriginAccessControlId") == {"Fn::GetAtt": ["StatusOriginAccessControl", "Id"]}
        and origin.get("DomainName") == {"Fn::GetAtt": ["StatusBucket", "RegionalDomainName"]},
        origin,
    )
    policy = res["StatusBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    check(
        "the status bucket's policy lets only this distribution read",
        len(policy) == 1
        and policy[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        and "distribution/${StatusDistribution}" in policy[0]["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"],
        policy,
    )

    step("your domain: DomainName and ApiDomainName set on the upgraded stack")
    domains = {
        "DomainName": "status.example.com",
        "CertificateArn": "arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555",
        "ApiDomainName": "status-api.example.com",
        "ApiCertificateArn": f"arn:aws:acm:{REGION}:123456789012:certificate/66666666-7777-8888-9999-000000000000",
    }
    cf.update_stack(
        StackName=stack,
        TemplateBody=json.dumps(new_moto),
        Parameters=[{"ParameterKey": k, "UsePreviousValue": True} for k in RELEASE_1_PARAMETERS]
        + [{"ParameterKey": k, "ParameterValue": v} for k, v in domains.items()],
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    wait(cf, stack, "UPDATE_COMPLETE")
    # (moto updates only resources whose template changed, so the functions' links
    # are checked on the restored stack below, created with these parameters.)
    out = outputs(cf, stack)
    check("WebhookUrl is on ApiDomainName", out.get("WebhookUrl") == "https://status-api.example.com/gitlab", out.get("WebhookUrl"))
    check("StatusPageUrl is DomainName", out.get("StatusPageUrl") == "https://status.example.com", out.get("StatusPageUrl"))
    check(
        "StatusPageDnsRecord names the CNAME to CloudFront",
        out.get("StatusPageDnsRecord", "").startswith("status.example.com CNAME stand-in-StatusDistribution-DomainName"),
        out.get("StatusPageDnsRecord"),
    )
    check(
        "ApiDnsRecord names the CNAME to the API's regional name",
        out.get("ApiDnsRecord", "").startswith("status-api.example.com CNAME stand-in-ApiDomain-RegionalDomainName"),
        out.get("ApiDnsRecord"),
    )
    res = check_resolved("with domains", new_cfn, {**RELEASE_1_PARAMETERS, **domains})
    dist = res["StatusDistribution"]["Properties"]["DistributionConfig"]
    check("the distribution's alias is DomainName", dist.get("Aliases") == ["status.example.com"], dist.get("Aliases"))
    cert = dist.get("ViewerCertificate", {})
    check(
        "the distribution's certificate is CertificateArn (SNI)",
        cert.get("AcmCertificateArn") == domains["CertificateArn"] and cert.get("SslSupportMethod") == "sni-only",
        cert,
    )
    api = res.get("ApiDomain", {}).get("Properties", {})
    check(
        "the HTTP API's custom domain is ApiDomainName with ApiCertificateArn",
        api.get("DomainName") == "status-api.example.com"
        and api.get("DomainNameConfigurations", [{}])[0].get("CertificateArn") == domains["ApiCertificateArn"],
        api,
    )
    mapping = res.get("ApiDomainMapping", {}).get("Properties", {})
    check("the custom domain maps to the HTTP API", mapping.get("ApiId") == {"Ref": "HttpApi"}, mapping)

    audience_pages(new_cfn, domains)

    # What CloudFormation does with VersioningConfiguration, which moto does not
    # apply; then some overwritten and deleted objects, so there are old versions.
    s3.put_bucket_versioning(Bucket=state, VersioningConfiguration={"Status": "Enabled"})
    def versions(i):
        key = f"subscribers/rehearsal-{i:04}.json"
        s3.put_object(Bucket=state, Key=key, Body=b'{"v": 1}')
        s3.put_object(Bucket=state, Key=key, Body=b'{"v": 2}')
        if i % 2:
            s3.delete_object(Bucket=state, Key=key)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(versions, range(220)))
    kept_state = bucket_objects(s3, state)
    kept_status = bucket_objects(s3, status)

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        step("backup, as docs/operations.md gives it")
        run_documented("backup-aws", endpoint, stack, tmp)
        backups = [p for p in tmp.iterdir() if p.name.startswith("openmic-backup-")]
        if not check("the backup is one folder", len(backups) == 1, backups):
            return
        backup = backups[0]
        check("the backup holds the state bucket", files_under(backup / "state") == kept_state)
        check("the backup holds the status bucket", files_under(backup / "status") == kept_status)

        step("delete the stack, as docs/operations.md gives it")
        run_documented("delete-stack", endpoint, stack, tmp)
        stacks = cf.list_stacks()["StackSummaries"]
        check("the stack is deleted", any(s["StackName"] == stack and s["StackStatus"] == "DELETE_COMPLETE" for s in stacks))
        check("the status bucket went with the stack", not bucket_exists(s3, status))
        check("the state bucket was kept", bucket_exists(s3, state))
        if bucket_exists(s3, state):
            check("the kept state bucket holds everything", bucket_objects(s3, state) == kept_state)

        step("a new stack on your domain, restored from the backup, as docs/operations.md gives it")
        fresh = f"openmic-restored-{suffix}"
        cf.create_stack(
            StackName=fresh,
            TemplateBody=json.dumps(fresh_moto),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in {**RELEASE_1_PARAMETERS, **domains}.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        if wait(cf, fresh, "CREATE_COMPLETE"):
            for fn in ["PublisherFunction", "NotifierFunction", "SubscriptionsFunction"]:
                env = env_of(lam, cf, fresh, fn)
                check(f"{fn}: STATUS_PAGE_URL follows DomainName", env.get("STATUS_PAGE_URL") == "https://status.example.com", env.get("STATUS_PAGE_URL"))
                check(f"{fn}: PUBLIC_API_URL follows ApiDomainName", env.get("PUBLIC_API_URL") == "https://status-api.example.com", env.get("PUBLIC_API_URL"))
            run_documented("restore-aws", endpoint, fresh, tmp, {"BACKUP": str(backup)})
            o = outputs(cf, fresh)
            check("the new state bucket holds the backup", bucket_objects(s3, o["StateBucketName"]) == kept_state)
            check("the new status bucket holds the backup", bucket_objects(s3, o["StatusBucketName"]) == kept_status)
            head = s3.head_object(Bucket=o["StatusBucketName"], Key="index.html")
            check("restored pages have a short Cache-Control", head.get("CacheControl") == "public, max-age=30", head.get("CacheControl"))
            check("restored pages are HTML", head.get("ContentType", "").startswith("text/html"), head.get("ContentType"))

        step("remove the kept state bucket for good, as docs/operations.md gives it")
        count = sum(
            len(page.get("Versions", [])) + len(page.get("DeleteMarkers", []))
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=state)
        )
        check("the kept bucket has more versions than one round of the loop takes (500)", count > 500, count)
        run_documented("remove-state-bucket", endpoint, stack, tmp, {"STATE": state})
        check("the kept state bucket is gone, every version with it", not bucket_exists(s3, state))


if __name__ == "__main__":
    main()
