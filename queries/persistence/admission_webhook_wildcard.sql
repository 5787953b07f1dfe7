/*
id = "admission_webhook_wildcard"
title = "Admission webhook that intercepts everything"
description = "A mutating or validating admission webhook was created or changed with rules matching every resource, API group or operation. Such a webhook sees (and, if mutating, can rewrite) every object written to the cluster, including secrets: a powerful persistence and credential-theft foothold."
kind = "alert"
severity = "high"
attack = ["T1546", "T1552.007"]
tags = ["admission"]
catalog = ["D25"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_admission_controller_created.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/persistence_kubernetes_admission_webhook_created_or_modified.toml"]
false_positives = "Policy engines (Kyverno, Gatekeeper) install broad webhooks when deployed; their service accounts are platform identities — allow-list them in webhook_managers."
remediation = "Delete the webhook unless it belongs to a known policy engine: kubectl delete {obj_resource} {obj_name}; then review objects admitted while it was active."
*/
SELECT *
FROM k8s_events
WHERE obj_resource IN ('mutatingwebhookconfigurations', 'validatingwebhookconfigurations')
  AND verb IN ('create', 'update', 'patch')
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(json_get_json(coalesce(response_object, request_object), 'webhooks'), '') ~ '"(resources|apiGroups|operations)":\[[^]]*"\*"'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'webhook_managers')
