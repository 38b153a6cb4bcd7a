#!/usr/bin/env python3
"""Checks ECS task definitions the way AWS does, plus the rules our recipes promise.

    check_task_definitions.py FILE...    a task definition (.json, the RegisterTaskDefinition
                                         input `aws ecs register-task-definition
                                         --cli-input-json` takes) or a CloudFormation template
                                         (.yaml/.json with Resources), whose
                                         AWS::ECS::TaskDefinition resources are checked
    check_task_definitions.py --self-test FIXTURES
                                         the checker must flag what is wrong: every file in
                                         FIXTURES (today's broken recipes, kept as they were)
                                         with the rules FIXTURES/expected.json names, and
                                         mutated copies of the good recipes in examples/

Exit status 0 when every file passes, 1 otherwise; one line per problem, `file: rule: what`.
Run by .ci/run with botocore from PyPI in a venv under target/.

The rules:
- shape: botocore's ECS service model, the input shape of RegisterTaskDefinition (field
  names, types, enums, required members), validated by botocore's own ParamValidator.
- From the Amazon ECS Developer Guide:
  - execution-role: a container that reads `secrets` (or `repositoryCredentials`, or a log
    driver's `secretOptions`) needs the task's `executionRoleArn` ("Amazon ECS task
    execution IAM role": the agent fetches secrets with it). A Fargate task whose containers
    log with `awslogs` needs it too (same page: "Tasks hosted on Fargate using awslogs").
  - fargate-network: Fargate tasks use `networkMode` `awsvpc` (task_definition_parameters,
    "Network mode": "If using the Fargate launch type, the awsvpc network mode is required").
  - fargate-size: Fargate tasks give task-level `cpu` and `memory` as one of the pairs in
    "Task CPU and memory" (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/
    task-cpu-memory-error.html, the same table as fargate-tasks-services.html), below.
  - ec2-memory: on EC2 without a task-level `memory`, every container gives `memory` or
    `memoryReservation` (task_definition_parameters, "memory").
  - depends-on: `dependsOn` names a container of the task; `HEALTHY` needs that container
    to have a `healthCheck` (task_definition_parameters, "Container dependency").
- Ours:
  - log-configuration: every container has a `logConfiguration` (a sidecar's errors and
    back-off lines must land somewhere). An `awslogs` one names the group, region and stream
    prefix, and sets `awslogs-create-group` to "true": the group need not exist beforehand
    (that needs `logs:CreateLogGroup` on the execution role, or on EC2 the instance role).
  - agent-healthy: a container that depends on a Datadog agent container waits for
    `HEALTHY`, and the agent has a health check, as Datadog's Fargate guide shows
    (https://docs.datadoghq.com/integrations/ecs_fargate/). The recipes use `agent health`
    (interval 30, timeout 5, retries 3, startPeriod 15), the agent's own status command, as
    Datadog's CDK construct did (DataDog/datadog-cdk-constructs src/ecs/constants.ts at
    1aea2438: command ["agent", "health"], retries 3, startPeriod 15, timeout 5; later
    versions use ["/probe.sh"] with startPeriod 60, which passes this rule as well: any
    healthCheck does). `START` only waits for the agent process to start, before DogStatsD
    listens: short runs would exit 3 at start-up.
  - same-as-recipe: a CloudFormation template X.cfn.yaml keeps the containers, commands,
    environment, dependencies, health checks and mounts of the recipe X.json.
  - agent-reachable: a container running ecs-statsd that sends DogStatsD has something to
    send to: a Unix socket under one of its mount points, or, for a loopback destination
    (the default 127.0.0.1:8125), a Datadog agent container in an `awsvpc` task (whose
    containers share localhost) or `host` networking (the host's agent).
"""

import copy
import json
import os
import sys

import botocore.session
from botocore.validate import ParamValidator

# Fargate task CPU units -> the memory values (MiB) allowed with it. From the ECS Developer
# Guide table "Task CPU and memory" (task-cpu-memory-error.html): 8 and 16 vCPU need Linux
# platform 1.4.0 or later.
FARGATE_SIZES = {
    256: [512, 1024, 2048],
    512: [1024, 2048, 3072, 4096],
    1024: [2048, 3072, 4096, 5120, 6144, 7168, 8192],
    2048: list(range(4096, 16384 + 1, 1024)),
    4096: list(range(8192, 30720 + 1, 1024)),
    8192: list(range(16384, 61440 + 1, 4096)),
    16384: list(range(32768, 122880 + 1, 8192)),
}

AWSLOGS_OPTIONS = ["awslogs-group", "awslogs-region", "awslogs-stream-prefix"]


_INPUT_SHAPE = []


def input_shape():
    if _INPUT_SHAPE:
        return _INPUT_SHAPE[0]
    model = botocore.session.get_session().get_service_model("ecs")
    _INPUT_SHAPE.append(model.operation_model("RegisterTaskDefinition").input_shape)
    return _INPUT_SHAPE[0]


def enum_errors(value, shape, where):
    """Values outside a string shape's enum (ParamValidator checks types, not enums)."""
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from enum_errors(value[name], member, f"{where}.{name}")
    elif shape.type_name == "list" and isinstance(value, list):
        for i, item in enumerate(value):
            yield from enum_errors(item, shape.member, f"{where}[{i}]")
    elif shape.type_name == "map" and isinstance(value, dict):
        for key, item in value.items():
            yield from enum_errors(item, shape.value, f"{where}[{key!r}]")
    elif shape.type_name == "string" and shape.enum and isinstance(value, str):
        if value not in shape.enum:
            yield (where, value, shape.enum)


def parse_size(value, unit):
    """Task cpu/memory as a string: units or MiB, or "1 vCPU" / "2 GB" (converted by ECS)."""
    text = str(value).strip()
    factor = 1
    for suffix in (unit, unit.lower()):
        if text.endswith(suffix):
            text = text[: -len(suffix)].strip()
            factor = 1024
    try:
        return int(float(text) * factor)
    except ValueError:
        return None


def is_agent(container):
    return "datadog/agent" in str(container.get("image", ""))


def argv(container):
    return [str(a) for a in (container.get("entryPoint") or []) + (container.get("command") or [])]


def env(container):
    return {e.get("name"): e.get("value") for e in container.get("environment") or []}


def runs_ecs_statsd_sending_statsd(container):
    args = argv(container)
    if not any("ecs-statsd" in a for a in args) and "ecs-statsd" not in str(container.get("image", "")):
        return False
    if any(a.endswith("prometheus-textfile.sh") for a in args):
        return False
    fmt = env(container).get("OUTPUT_FORMAT", "statsd")
    for i, a in enumerate(args):
        if a == "--format" and i + 1 < len(args):
            fmt = args[i + 1]
        elif a.startswith("--format="):
            fmt = a.split("=", 1)[1]
    return fmt == "statsd" and "--dry-run" not in args and "--output-file" not in args


def statsd_destination(container):
    """("unix", path) or ("udp", host), as ecs-statsd chooses it (docs/configuration.md)."""
    args = argv(container)
    variables = env(container)
    for i, a in enumerate(args):
        if a == "--statsd-socket" and i + 1 < len(args):
            return ("unix", args[i + 1])
        if a == "--statsd-host" and i + 1 < len(args):
            return ("udp", args[i + 1])
    url = variables.get("DD_DOGSTATSD_URL", "")
    if url.startswith("unix://"):
        return ("unix", url[len("unix://"):])
    if url.startswith("udp://"):
        return ("udp", url[len("udp://"):].rsplit(":", 1)[0])
    host = variables.get("DD_AGENT_HOST") or variables.get("STATSD_HOST") or "127.0.0.1"
    return ("udp", host)


def check_task_definition(td, created_groups=()):
    """Problems as (rule, message). `created_groups`: awslogs-group values naming a log group
    the same CloudFormation template creates (which then need not be created by the driver)."""
    problems = []
    report = ParamValidator().validate(td, input_shape())
    if report.has_errors():
        for line in report.generate_report().splitlines():
            problems.append(("shape", line.strip()))
    for where, value, allowed in enum_errors(td, input_shape(), "input"):
        problems.append(("shape", f"{where}: {value!r} is not one of {', '.join(allowed)}"))
    containers = [c for c in td.get("containerDefinitions") or [] if isinstance(c, dict)]
    by_name = {c.get("name"): c for c in containers}
    fargate = "FARGATE" in (td.get("requiresCompatibilities") or [])
    network = td.get("networkMode", "bridge")

    reads_secrets = [
        c.get("name")
        for c in containers
        if c.get("secrets")
        or c.get("repositoryCredentials")
        or (c.get("logConfiguration") or {}).get("secretOptions")
    ]
    if reads_secrets and not td.get("executionRoleArn"):
        problems.append(("execution-role", f"{', '.join(reads_secrets)} read secrets but the task has no executionRoleArn"))
    awslogs = [c.get("name") for c in containers if (c.get("logConfiguration") or {}).get("logDriver") == "awslogs"]
    if fargate and awslogs and not td.get("executionRoleArn"):
        problems.append(("execution-role", f"{', '.join(awslogs)} log with awslogs on Fargate but the task has no executionRoleArn"))

    if fargate:
        if network != "awsvpc":
            problems.append(("fargate-network", f"networkMode is {network!r}; Fargate needs 'awsvpc'"))
        cpu = parse_size(td.get("cpu", ""), "vCPU")
        memory = parse_size(td.get("memory", ""), "GB")
        if cpu not in FARGATE_SIZES:
            problems.append(("fargate-size", f"task cpu {td.get('cpu')!r} is not a Fargate size ({', '.join(map(str, FARGATE_SIZES))})"))
        elif memory not in FARGATE_SIZES[cpu]:
            problems.append(("fargate-size", f"task memory {td.get('memory')!r} is not allowed with cpu {cpu} on Fargate"))
    elif not td.get("memory"):
        for c in containers:
            if not c.get("memory") and not c.get("memoryReservation"):
                problems.append(("ec2-memory", f"{c.get('name')}: no memory or memoryReservation, and no task memory"))

    for c in containers:
        name = c.get("name")
        log = c.get("logConfiguration")
        if not log:
            problems.append(("log-configuration", f"{name}: no logConfiguration: its output is lost"))
        elif log.get("logDriver") == "awslogs":
            options = log.get("options") or {}
            missing = [o for o in AWSLOGS_OPTIONS if not options.get(o)]
            if missing:
                problems.append(("log-configuration", f"{name}: awslogs without {', '.join(missing)}"))
            created = options.get("awslogs-group") in created_groups
            if not created and str(options.get("awslogs-create-group", "")).lower() != "true":
                problems.append(("log-configuration", f"{name}: awslogs group {options.get('awslogs-group')!r} must already exist: set awslogs-create-group to \"true\""))
        for dep in c.get("dependsOn") or []:
            target = by_name.get(dep.get("containerName"))
            condition = dep.get("condition")
            if target is None:
                problems.append(("depends-on", f"{name}: dependsOn {dep.get('containerName')!r}, which is not in the task"))
                continue
            if condition == "HEALTHY" and not target.get("healthCheck"):
                problems.append(("depends-on", f"{name}: waits for {target.get('name')} HEALTHY, which has no healthCheck"))
            if is_agent(target):
                if condition != "HEALTHY":
                    problems.append(("agent-healthy", f"{name}: waits for the agent {target.get('name')} to {condition}, not HEALTHY: DogStatsD may not listen yet"))
                if not target.get("healthCheck"):
                    problems.append(("agent-healthy", f"{target.get('name')}: the agent has no healthCheck (Datadog: [\"CMD-SHELL\", \"agent health\"])"))

        if runs_ecs_statsd_sending_statsd(c):
            kind, where = statsd_destination(c)
            if kind == "unix":
                mounts = [str(m.get("containerPath", "")).rstrip("/") for m in c.get("mountPoints") or []]
                if not any(where.startswith(m + "/") for m in mounts if m):
                    problems.append(("agent-reachable", f"{name}: sends to the socket {where}, under none of its mount points"))
            elif where in ("127.0.0.1", "localhost", "::1"):
                has_agent = any(is_agent(o) for o in containers)
                if network == "host":
                    pass  # the host's agent, on the host's loopback
                elif network == "awsvpc" and has_agent:
                    pass  # the task's containers share localhost
                else:
                    why = "no agent container in the task" if network == "awsvpc" else f"networkMode {network!r} gives the container its own loopback"
                    problems.append(("agent-reachable", f"{name}: sends DogStatsD to {where}, where nothing listens: {why}"))
    return problems


class CloudFormationLoader:
    """YAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt ...), as placeholders."""

    @staticmethod
    def load(text):
        import yaml

        class Loader(yaml.SafeLoader):
            pass

        def tag(loader, suffix, node):
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)
            return {"Fn::" + suffix if suffix != "Ref" else "Ref": value}

        Loader.add_multi_constructor("!", tag)
        return yaml.load(text, Loader=Loader)


def resolve(value):
    """A CloudFormation value as the API would get it: intrinsics become placeholder strings."""
    if isinstance(value, dict):
        if len(value) == 1:
            (key, inner), = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                if key == "Fn::Sub" and isinstance(inner, str):
                    return inner
                return f"<{key}:{json.dumps(inner)}>"
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


# CloudFormation property names whose members are free-form keys (left as they are).
FREE_FORM = {"Options", "DockerLabels", "SecretOptions"}


def to_api(value):
    """CloudFormation's PascalCase properties -> the API's camelCase members."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            api_key = k[:1].lower() + k[1:]
            out[api_key] = v if k in FREE_FORM else to_api(v)
        return out
    if isinstance(value, list):
        return [to_api(v) for v in value]
    return value


# Members whose CloudFormation type differs from the API's (integers given as strings, per
# AWS::ECS::TaskDefinition), converted so the shape check compares like with like.
def normalise(td):
    for c in td.get("containerDefinitions") or []:
        for key in ("cpu", "memory", "memoryReservation", "stopTimeout", "startTimeout"):
            if isinstance(c.get(key), str) and c[key].isdigit():
                c[key] = int(c[key])
    for key in ("cpu", "memory"):
        if isinstance(td.get(key), int):
            td[key] = str(td[key])
    return td


def task_definitions(path):
    """(label, task definition) for a file."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith((".yaml", ".yml")):
        doc = CloudFormationLoader.load(text)
    else:
        doc = json.loads(text)
    if isinstance(doc, dict) and "Resources" in doc:
        found = []
        groups = {
            resolve({"Ref": name})
            for name, resource in doc["Resources"].items()
            if resource.get("Type") == "AWS::Logs::LogGroup"
        }
        for name, resource in doc["Resources"].items():
            if resource.get("Type") == "AWS::ECS::TaskDefinition":
                props = to_api(resolve(resource.get("Properties") or {}))
                found.append((f"{path} ({name})", normalise(props), groups))
        if not found:
            found.append((path, None, groups))
        return found
    return [(path, doc, set())]


# What a CloudFormation template must keep from the JSON recipe it is named after (images,
# log groups, regions and ARNs become parameters and references).
SAME_AS_RECIPE = ["name", "essential", "entryPoint", "command", "environment", "dependsOn", "healthCheck", "mountPoints", "memory", "secrets"]


def differences_from_recipe(td, recipe):
    ours = {c.get("name"): c for c in td.get("containerDefinitions") or []}
    theirs = {c.get("name"): c for c in recipe.get("containerDefinitions") or []}
    if sorted(ours) != sorted(theirs):
        yield f"containers {sorted(ours)}, the recipe has {sorted(theirs)}"
        return
    for key in ("requiresCompatibilities", "networkMode", "cpu", "memory", "volumes"):
        if td.get(key) != recipe.get(key):
            yield f"{key} {td.get(key)!r}, the recipe has {recipe.get(key)!r}"
    for name, container in theirs.items():
        for key in SAME_AS_RECIPE:
            if key == "secrets":
                mine = [x.get("name") for x in ours[name].get(key) or []]
                other = [x.get("name") for x in container.get(key) or []]
            else:
                mine, other = ours[name].get(key), container.get(key)
            if mine != other:
                yield f"{name}: {key} {mine!r}, the recipe has {other!r}"


def check_file(path):
    problems = []
    recipe_path = path.replace(".cfn.yaml", ".json") if path.endswith(".cfn.yaml") else None
    for label, td, groups in task_definitions(path):
        if td is None:
            problems.append((label, "shape", "a CloudFormation template without an AWS::ECS::TaskDefinition"))
            continue
        problems.extend((label, rule, message) for rule, message in check_task_definition(td, groups))
        if recipe_path and os.path.exists(recipe_path):
            with open(recipe_path, encoding="utf-8") as f:
                recipe = json.load(f)
            for message in differences_from_recipe(td, recipe):
                problems.append((label, "same-as-recipe", message))
    return problems


def print_problems(problems):
    for label, rule, message in problems:
        print(f"{label}: {rule}: {message}")


# Mutations of the good recipes and the rule each must trip: every rule is shown to fire.
def mutations(examples):
    def load(name):
        with open(os.path.join(examples, name), encoding="utf-8") as f:
            return json.load(f)

    def mutate(name, change):
        td = copy.deepcopy(load(name))
        change(td)
        return td

    def c(td, name):
        return next(x for x in td["containerDefinitions"] if x["name"] == name)

    fargate = "fargate-datadog-agent.json"
    ec2 = "ec2-dogstatsd-socket.json"
    return [
        ("an unknown member", "shape", mutate(fargate, lambda td: c(td, "ecs-statsd").update(entrypoint=["x"]))),
        ("a string for an integer", "shape", mutate(ec2, lambda td: c(td, "app").update(memory="512"))),
        ("a condition ECS does not know", "shape", mutate(fargate, lambda td: c(td, "ecs-statsd")["dependsOn"][0].update(condition="READY"))),
        ("no family", "shape", mutate(fargate, lambda td: td.pop("family"))),
        ("secrets without the execution role", "execution-role", mutate(fargate, lambda td: td.pop("executionRoleArn"))),
        ("Fargate in bridge mode", "fargate-network", mutate(fargate, lambda td: td.update(networkMode="bridge"))),
        ("Fargate 256 CPU with 4 GB", "fargate-size", mutate(fargate, lambda td: td.update(cpu="256", memory="4096"))),
        ("Fargate 2 vCPU with 17 GB", "fargate-size", mutate(fargate, lambda td: td.update(cpu="2 vCPU", memory="17 GB"))),
        ("Fargate cpu not a size", "fargate-size", mutate(fargate, lambda td: td.update(cpu="300"))),
        ("EC2 container without memory", "ec2-memory", mutate(ec2, lambda td: c(td, "ecs-statsd").pop("memory"))),
        ("the sidecar without logs", "log-configuration", mutate(fargate, lambda td: c(td, "ecs-statsd").pop("logConfiguration"))),
        ("a log group that must exist", "log-configuration", mutate(ec2, lambda td: c(td, "app")["logConfiguration"]["options"].pop("awslogs-create-group"))),
        ("awslogs without a stream prefix", "log-configuration", mutate(fargate, lambda td: c(td, "app")["logConfiguration"]["options"].pop("awslogs-stream-prefix"))),
        ("waits for the agent to START", "agent-healthy", mutate(fargate, lambda td: c(td, "ecs-statsd")["dependsOn"][0].update(condition="START"))),
        ("an agent without a health check", "agent-healthy", mutate(fargate, lambda td: c(td, "datadog-agent").pop("healthCheck"))),
        ("HEALTHY without a health check", "depends-on", mutate(fargate, lambda td: c(td, "datadog-agent").pop("healthCheck"))),
        ("depends on a container not there", "depends-on", mutate(fargate, lambda td: c(td, "ecs-statsd")["dependsOn"][0].update(containerName="dd-agent"))),
        ("no agent in the task", "agent-reachable", mutate(fargate, lambda td: td.update(containerDefinitions=[x for x in td["containerDefinitions"] if x["name"] != "datadog-agent"] ) or c(td, "ecs-statsd").pop("dependsOn"))),
        ("a socket not mounted", "agent-reachable", mutate(ec2, lambda td: c(td, "ecs-statsd").pop("mountPoints"))),
        ("loopback in bridge mode", "agent-reachable", mutate(ec2, lambda td: c(td, "ecs-statsd")["environment"].pop(0))),
    ]


def self_test(fixtures):
    """0 when every broken fixture and every mutation trips the rules it must."""
    failures = []
    with open(os.path.join(fixtures, "expected.json"), encoding="utf-8") as f:
        expected = json.load(f)
    on_disk = sorted(n for n in os.listdir(fixtures) if n != "expected.json")
    if on_disk != sorted(expected):
        failures.append(f"{fixtures}: expected.json lists {sorted(expected)}, the folder holds {on_disk}")
    for name, rules in sorted(expected.items()):
        problems = check_file(os.path.join(fixtures, name))
        fired = {rule for _, rule, _ in problems}
        print(f"self-test: {name}: {len(problems)} problems, rules {sorted(fired)}")
        for rule in rules:
            if rule not in fired:
                failures.append(f"{name}: the {rule} rule did not fire")
    examples = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "examples")
    for what, rule, td in mutations(examples):
        fired = {r for r, _ in check_task_definition(td)}
        print(f"self-test: mutation {what!r}: rules {sorted(fired)}")
        if rule not in fired:
            failures.append(f"mutation {what!r}: the {rule} rule did not fire")
    # A template that drifted from its recipe, and one that drops the agent's health check.
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(os.path.join(examples, "fargate-datadog-agent.json"), tmp)
        with open(os.path.join(examples, "fargate-datadog-agent.cfn.yaml"), encoding="utf-8") as f:
            template = f.read()
        for what, rule, old, new in [
            ("a template whose environment drifted", "same-as-recipe", "Value: checkout\n", "Value: other\n"),
            ("a template waiting for START", "agent-healthy", "Condition: HEALTHY", "Condition: START"),
            ("a template without the execution role", "execution-role", "      ExecutionRoleArn: !GetAtt ExecutionRole.Arn\n", ""),
        ]:
            if old not in template:
                failures.append(f"template mutation {what!r}: {old!r} is not in the template")
                continue
            path = os.path.join(tmp, "fargate-datadog-agent.cfn.yaml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(template.replace(old, new))
            fired = {r for _, r, _ in check_file(path)}
            print(f"self-test: template mutation {what!r}: rules {sorted(fired)}")
            if rule not in fired:
                failures.append(f"template mutation {what!r}: the {rule} rule did not fire")
    for failure in failures:
        print(f"self-test FAILED: {failure}")
    return 1 if failures else 0


def main(args):
    if len(args) == 2 and args[0] == "--self-test":
        return self_test(args[1])
    if not args or args[0].startswith("-"):
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        print("usage: check_task_definitions.py FILE... | --self-test FIXTURES", file=sys.stderr)
        return 2
    problems = []
    for path in args:
        found = check_file(path)
        problems.extend(found)
        if not found:
            print(f"{path}: ok")
    print_problems(problems)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
