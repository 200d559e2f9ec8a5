"""vf-analytics-cache: Voiceflow analytics answered from Redis."""
