"""Signs the bench's own Cognito user in to the sandbox's user pool and prints
its access token (the bench's load posts as that user).

Run with the sandbox's Python (boto3) and its exports (AWS_ENDPOINT_URL, the
pool and client ids). The user is created on the first run; its password is
new every run, made here and never shown or passed on. The token is printed on
stdout only, for the bench to hand to the load generator in its environment;
it is good only on that sandbox, whose keys go with it at `sandbox down`.
"""

import os
import secrets
import sys

import boto3

EMAIL = "bench-load@example.com"


def main():
    pool = os.environ["AWS_COGNITO_USER_POOL_ID"]
    client_id = os.environ["AWS_COGNITO_USER_POOL_CLIENT_ID"]
    if not os.environ.get("AWS_ENDPOINT_URL", "").startswith("http://127."):
        sys.exit("signin.py: AWS_ENDPOINT_URL must be the sandbox's (loopback) address")
    cognito = boto3.client("cognito-idp")
    try:
        cognito.admin_create_user(
            UserPoolId=pool,
            Username=EMAIL,
            MessageAction="SUPPRESS",
            UserAttributes=[
                {"Name": "email", "Value": EMAIL},
                {"Name": "name", "Value": "Bench Load"},
                {"Name": "preferred_username", "Value": "benchload"},
            ],
        )
    except cognito.exceptions.UsernameExistsException:
        pass
    password = "Bench-" + secrets.token_urlsafe(24) + "-1!"
    cognito.admin_set_user_password(UserPoolId=pool, Username=EMAIL, Password=password, Permanent=True)
    answer = cognito.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": EMAIL, "PASSWORD": password},
    )
    print(answer["AuthenticationResult"]["AccessToken"])


if __name__ == "__main__":
    main()
