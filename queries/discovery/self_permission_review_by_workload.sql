/*
id = "self_permission_review_by_workload"
title = "Permission enumeration by a service account or node"
description = "A service account or node asked the API what it is allowed to do (SelfSubjectAccessReview / SelfSubjectRulesReview, i.e. kubectl auth can-i). Workloads rarely do this; an intruder with a stolen token does it first."
kind = "alert"
severity = "low"
attack = ["T1069.003", "T1613"]
tags = ["discovery"]
catalog = ["D60"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/discovery_suspicious_self_subject_review.toml", "https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_rbac_permisions_listing.yml"]
false_positives = "Client libraries that check permissions at start-up (their user agent usually ends in kubernetes/$Format and is excluded)."
remediation = "Check the workload behind {actor} for compromise; rotate its token."
*/
SELECT *
FROM k8s_events
WHERE obj_resource IN ('selfsubjectaccessreviews', 'selfsubjectrulesreviews') AND verb = 'create' AND authz_decision = 'allow'
  AND (starts_with(coalesce(actor, ''), 'system:serviceaccount:') OR starts_with(coalesce(actor, ''), 'system:node:')
       OR starts_with(coalesce(impersonated_user_name, ''), 'system:serviceaccount:'))
  AND coalesce(user_agent, '') NOT LIKE '%kubernetes/$Format'
