/*
id = "deployment_patched_by_person"
title = "Deployment patched by a person (sidecar injection)"
description = "A Deployment was patched by a human user rather than the CI identity that owns it. Patching a running deployment is how sidecars and backdoored containers are injected."
kind = "duet"
severity = "low"
attack = ["T1609", "T1525"]
tags = ["workload"]
catalog = ["D21"]
references = ["https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_sidecar_injection.yml"]
false_positives = "kubectl rollout restart and scale by on-call engineers (both are patches)."
first_action = "Did you expect {actor} to patch deployment {obj_namespace}/{obj_name}?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'deployments' AND obj_api_group = 'apps' AND verb = 'patch' AND obj_subresource IS NULL
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete' AND actor_class = 'human'
  AND coalesce(user_agent, '') !~ '^(helm|argocd|flux|terraform)'
