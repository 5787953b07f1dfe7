/*
id = "controller_service_account_on_new_pod"
title = "Controller service account assigned to a new kube-system pod"
description = "A pod was created in kube-system running as a controller service account (name ending in -controller). Controller accounts hold broad permissions; borrowing one through a new pod is a privilege escalation."
kind = "alert"
severity = "high"
attack = ["T1078.001", "T1098"]
tags = ["identity"]
catalog = ["D40"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/privilege_escalation_suspicious_assignment_of_controller_service_account.toml"]
false_positives = "Add-ons whose own controllers run in kube-system (their images belong in privileged_images)."
remediation = "Delete the pod (kubectl delete pod -n kube-system {obj_name}) and review what it did with service account {service_account}."
*/
SELECT *
FROM k8s_pod_writes
WHERE obj_resource = 'pods' AND verb = 'create' AND obj_namespace = 'kube-system' AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND service_account LIKE '%controller' AND NOT k8s_all_like(images, (SELECT array_agg(value) FROM allowlist WHERE list = 'privileged_images'))
  AND NOT k8s_all_like(images, make_array('%snapshot-controller%', '%aws-load-balancer-controller%', '%sealed-secrets-controller%', '%vpa-admission-controller%', '%csi-%'))
