/*
id = "admission_webhook_changed"
title = "Admission webhook created, changed or deleted"
description = "An admission webhook configuration was created, modified or deleted by a person or workload. Webhooks intercept API writes; adding one is a persistence technique and deleting one can switch off a policy engine."
kind = "duet"
severity = "medium"
attack = ["T1546", "T1562.001"]
tags = ["admission"]
catalog = ["D25"]
references = ["https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_change_admission_controller.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/persistence_kubernetes_admission_webhook_created_or_modified.toml"]
false_positives = "Installing or upgrading cert-manager, Kyverno, Gatekeeper, service meshes: expected when their deployments happen; add their identities to webhook_managers."
first_action = "Did you expect {actor} to {verb} admission webhook {obj_name}?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource IN ('mutatingwebhookconfigurations', 'validatingwebhookconfigurations')
  AND verb IN ('create', 'update', 'patch', 'delete')
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND NOT (verb <> 'delete' AND coalesce(json_get_json(coalesce(response_object, request_object), 'webhooks'), '') ~ '"(resources|apiGroups|operations)":\[[^]]*"\*"')
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
  AND coalesce(obj_name, '') !~ '^(eks-|gke-|aks-|pod-identity-webhook|vpc-resource-mutating-webhook)'
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'webhook_managers')
