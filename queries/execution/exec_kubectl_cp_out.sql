/*
id = "exec_kubectl_cp_out"
title = "Files copied out of a pod (kubectl cp)"
description = "kubectl cp from a pod runs `tar cf - <path>` in the container through exec and streams the archive back. Copying files out of production containers is an exfiltration path."
kind = "alert"
severity = "medium"
attack = ["T1530", "T1005"]
tags = ["exec", "exfiltration"]
catalog = ["D16"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_kubectl_cp_operation.yml"]
false_positives = "Engineers pulling logs or heap dumps from their own pods; control-plane components in system namespaces are excluded."
remediation = "Ask {actor} what was copied from {obj_namespace}/{obj_name}; if unexplained, rotate any secrets stored in the copied path."
*/
SELECT *
FROM k8s_exec
WHERE obj_subresource = 'exec' AND coalesce(stage, 'ResponseStarted') = 'ResponseStarted' AND coalesce(response_code, 101) < 400
  AND command ~ '(^|[ /])tar( |$)'
  AND command ~ ' -?[a-zA-Z]*c[a-zA-Z]*f[a-zA-Z]*( |$)'
  AND command ~ ' -( |$)'
  AND NOT ((actor_class IN ('system_component', 'cloud_system', 'node') OR starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:'))
           AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
