/*
id = "configmap_with_credentials"
title = "ConfigMap containing credentials"
description = "A ConfigMap was created or changed with data that looks like credentials (AWS access keys, passwords, passphrases, private keys). ConfigMaps are not secret: anyone who can read them sees the values."
kind = "duet"
severity = "medium"
attack = ["T1552.001"]
tags = ["secrets"]
catalog = ["D58"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml"]
false_positives = "Keys named password that hold no secret (e.g. password policy settings)."
first_action = "Did you expect {actor} to store credentials in ConfigMap {obj_namespace}/{obj_name}? Move them to a Secret."
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'configmaps' AND verb IN ('create', 'update', 'patch') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(json_get_json(request_object, 'data'), '') ~* '(aws_access_key_id|aws-access-key-id|aws_s3_access_key_id|aws-s3-access-key-id|password|passphrase|BEGIN [A-Z ]*PRIVATE KEY|AKIA[0-9A-Z]{16})'
