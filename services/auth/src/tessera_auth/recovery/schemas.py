from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from tessera_core.schemas import Text

__all__ = ["Accepted", "EmailVerify", "PasswordForgot", "PasswordReset"]


class PasswordForgot(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: Text = Field(max_length=254, examples=["alice@example.com"])


class PasswordReset(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Text = Field(max_length=512, examples=["Zq3v…the token from the mailed link"])
    new_password: Text = Field(max_length=1024, examples=["correct-horse-battery-staple"])


class EmailVerify(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: Text = Field(max_length=512, examples=["Zq3v…the token from the mailed link"])


class Accepted(BaseModel):
    """The answer to a request for mail: the same whether or not any mail is sent."""

    detail: str = Field(examples=["If an account has this address, a message is on its way."])
