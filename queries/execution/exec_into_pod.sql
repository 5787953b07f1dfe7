/*
id = "exec_into_pod"
title = "Exec or attach into a running container"
description = "A person or workload opened an interactive session (exec or attach) in a running container. Often legitimate debugging, but it is also how intruders run commands in workloads, so the customer confirms it was expected."
kind = "duet"
severity = "medium"
attack = ["T1609"]
tags = ["exec"]
catalog = ["D12"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_exec_into_container.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/execution_user_exec_to_pod.toml"]
false_positives = "Engineers debugging their own workloads (on AKS, `masterclient` is the --admin kubeconfig identity people use, so it is asked about too); CI smoke tests. The answer trains expected actors per namespace."
first_action = "Did you expect {actor} to open a shell ({obj_subresource}) in pod {obj_namespace}/{obj_name} and run `{command}`?"
*/
SELECT *
FROM k8s_exec
WHERE verb IN ('create', 'get')
  AND coalesce(stage, 'ResponseStarted') = 'ResponseStarted'
  AND coalesce(response_code, 101) < 400
  AND actor_class <> 'system_component'
