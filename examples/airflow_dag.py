"""auditlake as an Airflow DAG: one run per data interval.

Each task run covers exactly its interval by arrival time (`--start/--end`), so clearing and
re-running a task, or `catchup` after downtime, is safe: outputs are idempotent. Exit code 2
(configuration error) is not worth retrying; 3 means the run completed but rejected some input.
"""

from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator
from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator

WINDOW = "--start '{{ data_interval_start }}' --end '{{ data_interval_end }}'"

with DAG(
    dag_id="auditlake_detections",
    schedule=timedelta(minutes=15),
    start_date=datetime(2026, 11, 1),
    catchup=True,
    max_active_runs=4,  # concurrent windows are safe; this bounds cost
    default_args={"retries": 3, "retry_delay": timedelta(minutes=2), "retry_exponential_backoff": True},
) as dag:
    # On a worker with the binary installed.
    BashOperator(
        task_id="run_bash",
        bash_command=f"auditlake run --config /etc/auditlake/prod.toml {WINDOW} --format json --log-format json",
        do_xcom_push=True,  # the last stdout line: the JSON run summary
    )

    # Or in its own pod (IRSA / workload identity supplies the cloud credentials).
    KubernetesPodOperator(
        task_id="run_pod",
        name="auditlake",
        namespace="security",
        image="registry.example.com/auditlake:0.1.0",
        cmds=["auditlake"],
        arguments=[
            "run", "--config", "/etc/auditlake/prod.toml",
            "--start", "{{ data_interval_start }}", "--end", "{{ data_interval_end }}",
            "--log-format", "json", "--summary-json", "/airflow/xcom/return.json",
        ],
        do_xcom_push=True,
        service_account_name="auditlake",
        on_finish_action="delete_succeeded_pod",
        reattach_on_restart=False,  # avoid reattaching to a finished pod (apache/airflow#39414)
        container_resources={"requests": {"cpu": "2", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
    )
