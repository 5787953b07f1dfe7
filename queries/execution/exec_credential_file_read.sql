/*
id = "exec_credential_file_read"
title = "Exec reading service-account tokens or credential files"
description = "A command run through exec read a service-account token or another credential file (kubelet/PKI material, SSH or cloud CLI credentials, /etc/shadow, process environments). Stealing the pod's token is the usual first step to move from one workload to the API."
kind = "alert"
severity = "high"
attack = ["T1552.001", "T1552.007", "T1609"]
tags = ["exec", "credentials"]
catalog = ["D15"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_pod_steal_service_account_token.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/credential_access_kubernetes_pod_exec_sensitive_file_access.toml"]
false_positives = "Engineers checking a mounted token while debugging auth problems; control-plane components in system namespaces are excluded."
remediation = "Rotate the service account's tokens (delete the pod to get a new projected token, or recreate the service account), and check where the token was used next."
*/
SELECT *
FROM k8s_exec
WHERE obj_subresource = 'exec' AND coalesce(stage, 'ResponseStarted') IN ('ResponseStarted', 'ResponseComplete') AND coalesce(response_code, 101) < 400
  AND command ~ '(/var/run/secrets/|/run/secrets/kubernetes\.io|serviceaccount/token|/etc/kubernetes/|/var/lib/kubelet/|/etc/shadow|/etc/sudoers|(/root|/home/[^/ ]+)/\.(ssh|aws|azure|kube|config/gcloud)|/proc/[^ ]*/environ)'
  AND NOT ((actor_class IN ('system_component', 'cloud_system', 'node') OR starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:'))
           AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
