"""Serve one SDK module outside the router: as an HTTP service, a Lambda handler or an
OpenWhisk action. The module's code is the same in all of them."""

from waddlebot.sdk.adapters.aws_lambda import lambda_handler
from waddlebot.sdk.adapters.http import http_app
from waddlebot.sdk.adapters.loader import load_module
from waddlebot.sdk.adapters.openwhisk import openwhisk_action

__all__ = ["http_app", "lambda_handler", "load_module", "openwhisk_action"]
