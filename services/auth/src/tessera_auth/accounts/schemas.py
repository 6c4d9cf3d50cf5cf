from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tessera_core.accounts.users import check_email, check_username
from tessera_core.schemas import Text

__all__ = ["PasswordChange", "UserCreate"]


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Text = Field(min_length=3, max_length=150, examples=["alice"])
    email: Text = Field(max_length=254, examples=["alice@example.com"])
    password: Text = Field(max_length=1024, examples=["correct-horse-battery-staple"])
    nickname: Text = Field("", max_length=150)
    first_name: Text = Field("", max_length=150)
    last_name: Text = Field("", max_length=150)

    _username = field_validator("username")(check_username)
    _email = field_validator("email")(check_email)


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Text = Field(max_length=1024)
    new_password: Text = Field(max_length=1024)
