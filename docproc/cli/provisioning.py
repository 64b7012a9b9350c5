"""The commands an administrator runs against AWS: provision (and its IAM policies),
deprovision."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from docproc.cli.common import EXIT_REJECTED, console, fail, load_settings
from docproc.cli.options import DryRun, TopicName, WebhookUrl
from docproc.settings import DEFAULT_TOPIC_NAME as DEFAULT_TOPIC

if TYPE_CHECKING:
    from collections.abc import Callable

    from docproc.provision import Clients, Step


def provision(
    webhook_url: WebhookUrl = "",
    topic_name: TopicName = DEFAULT_TOPIC,
    dry_run: DryRun = False,
    iam_policy: Annotated[
        bool,
        typer.Option(
            "--iam-policy",
            help="Print the least-privilege IAM policies (webhook's role, workers' role) "
            "as JSON, and create nothing.",
        ),
    ] = False,
    topic_arn: Annotated[
        str | None,
        typer.Option(
            help="With --iam-policy: the topic's ARN, when its account cannot be read (STS)."
        ),
    ] = None,
) -> None:
    """Create the buckets, SNS topic, topic policy, bucket notification and subscription.

    Idempotent: reads what exists first and changes only what differs; a second run
    says "nothing to change". Works against AWS or any endpoint (AWS_ENDPOINT_URL).
    With --iam-policy, prints instead the IAM policies for the webhook's and the
    workers' roles, from the configured buckets, prefixes and topic.
    """
    from docproc import provision as prov
    from tasks import resources

    load_settings()
    if iam_policy:
        print_iam_policies(topic_name, topic_arn)
        return
    if not webhook_url:
        fail("--webhook-url is required (or --iam-policy)")
    config = resources.settings()

    def plan(clients: prov.Clients) -> list[prov.Step]:
        return prov.plan(
            clients,
            source_bucket=config.source_bucket,
            target_bucket=config.target_bucket,
            webhook_url=webhook_url,
            topic_name=topic_name,
        )

    run_plan(plan, dry_run=dry_run, nothing="everything is provisioned")


def print_iam_policies(topic_name: str, topic_arn: str | None) -> None:
    """Both policy documents as one JSON object, `webhook` and `workers`, for scripts."""
    import json

    from docproc import iam
    from docproc import provision as prov
    from tasks import resources

    config = resources.settings()
    if topic_arn is None:
        try:
            session, client_params = resources.aws_session()
            clients = prov.make_clients(session, client_params=client_params)
            topic_arn = iam.topic_arn(clients, topic_name)
        except ValueError as exc:
            fail(str(exc))
        except prov.ProvisionError as exc:
            fail(str(exc), EXIT_REJECTED)
    documents = iam.policies(
        topic_arn=topic_arn,
        source_bucket=config.source_bucket,
        target_bucket=config.target_bucket,
        export_prefix=config.export_prefix,
        reject_prefix=config.reject_prefix,
    )
    typer.echo(json.dumps(documents, indent=2))


def deprovision(
    webhook_url: WebhookUrl,
    topic_name: TopicName = DEFAULT_TOPIC,
    dry_run: DryRun = False,
    delete_buckets: Annotated[
        bool,
        typer.Option(
            "--delete-buckets",
            help="Delete the source and target buckets too; refused if either holds objects.",
        ),
    ] = False,
) -> None:
    """Undo `provision` in reverse order: subscription, bucket notification, topic policy, topic.

    Idempotent: a second run says "nothing to change". Only docproc's parts go; the
    buckets stay unless --delete-buckets, and a bucket that holds objects is never
    deleted (exit status 1, nothing changed).
    """
    from docproc import deprovision as teardown
    from docproc import provision as prov
    from tasks import resources

    load_settings()
    config = resources.settings()

    def plan(clients: prov.Clients) -> list[prov.Step]:
        return teardown.plan_teardown(
            clients,
            source_bucket=config.source_bucket,
            target_bucket=config.target_bucket,
            webhook_url=webhook_url,
            topic_name=topic_name,
            delete_buckets=delete_buckets,
        )

    run_plan(plan, dry_run=dry_run, nothing="nothing of docproc's is provisioned")


def run_plan(plan: Callable[[Clients], list[Step]], *, dry_run: bool, nothing: str) -> None:
    """Plan against the configured AWS, print the steps, apply them unless `dry_run`:
    what `provision` and `deprovision` share (a refused step exits 1, bad input 2)."""
    from docproc import provision as prov
    from tasks import resources

    try:
        session, client_params = resources.aws_session()
        clients = prov.make_clients(session, client_params=client_params)
        steps = plan(clients)
    except ValueError as exc:
        fail(str(exc))
    except prov.ProvisionError as exc:
        fail(str(exc), EXIT_REJECTED)
    if not steps:
        console.print(f"nothing to change: {nothing}")
        return
    console.print(f"{'plan' if dry_run else 'applying'} ({len(steps)} steps):")
    for step in steps:
        console.print(f"  - {step.description}")
    if dry_run:
        return
    try:
        prov.apply(clients, steps)
    except prov.ProvisionError as exc:
        fail(str(exc), EXIT_REJECTED)
    console.print("[green]done[/]")
