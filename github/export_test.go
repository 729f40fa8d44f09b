package github

func (c *Client) appTokensForTest() *appTokens { return c.app }
