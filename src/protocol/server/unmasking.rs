//! Round 4 (Unmasking), server side: collect the revealed shares, rebuild and check every
//! secret, remove the masks (Bonawitz et al., CCS 2017, Fig. 4, Round 4, server side;
//! `docs/PROTOCOL.md` §7, §10, §12.1).

#[allow(clippy::wildcard_imports)]
use super::*;

impl Unmasking {
    /// Receives one survivor's shares.
    ///
    /// Implements Round 4, server side: Bonawitz et al., CCS 2017, Fig. 4.
    ///
    /// # Errors
    /// [`Rejected`] for another session or sender, a client not among the survivors, a
    /// second message, or shares that are not exactly one self-mask share per survivor and
    /// one key share per dropped client of the sender's neighbourhood.
    pub fn receive(
        &mut self,
        from: ClientId,
        message: msg::UnmaskingResponse,
    ) -> Result<(), Rejected> {
        let round = Round::Unmasking;
        check_envelope(&self.params, from, &message.session, message.sender, round)?;
        if !self.responders.contains(&from) {
            return Err(reject(from, round, Misbehavior::UnexpectedMessage));
        }
        if self.responses.contains_key(&from) {
            return Err(reject(from, round, Misbehavior::DuplicateMessage));
        }
        let view = self.graph.view(from);
        let self_mask_owners: Vec<ClientId> = within(&view, &self.survivors).collect();
        let key_owners: Vec<ClientId> = within(&view, &self.dropped).collect();
        let lists = [
            (&message.self_mask_shares, &self_mask_owners),
            (&message.key_shares, &key_owners),
        ];
        for (shares, owners) in lists {
            if shares.len() != owners.len() {
                let owner = owners.first().copied().unwrap_or(from);
                return Err(reject(
                    from,
                    round,
                    Misbehavior::SharesForWrongSet { owner },
                ));
            }
            for ((owner, _), expected) in shares.iter().zip(owners) {
                if owner != expected {
                    let what = Misbehavior::SharesForWrongSet { owner: *owner };
                    return Err(reject(from, round, what));
                }
            }
        }
        let msg::UnmaskingResponse {
            self_mask_shares,
            key_shares,
            ..
        } = message;
        let revealed = RevealedShares {
            self_mask: self_mask_shares.into_iter().collect(),
            key: key_shares.into_iter().collect(),
        };
        self.responses.insert(from, revealed);
        Ok(())
    }

    /// Ends Round 4: rebuilds every survivor's self-mask seed and every dropped client's
    /// mask key from `t` of its share holders' responses, removes their masks and returns
    /// the sum.
    ///
    /// Implements Round 4, server side: Bonawitz et al., CCS 2017, Fig. 4.
    ///
    /// # Errors
    /// [`Error::Abort`] if fewer than `t` survivors responded, or fewer than `t` of one
    /// client's share holders, or if a rebuilt secret does not match its owner's public
    /// commitment (a share holder lied): never a wrong sum.
    pub fn finish(mut self) -> Result<Output, Error> {
        enough(&self.params, self.responses.len(), Round::Unmasking)?;
        let modulus = self.params.modulus();
        // Every secret is rebuilt and checked before any mask is derived: the first failing
        // survivor's error, then the first failing dropped client's.
        let mut self_masks = Self::per_owner(&self.survivors, |cache, u| self.self_mask(cache, u));
        first_error(&self_masks)?;
        let mask_keys = Self::per_owner(&self.dropped, |cache, u| self.mask_key(cache, u));
        first_error(&mask_keys)?;
        let pairs = self.pairs_of_dropped(&mask_keys);
        // SECURITY: these seeds unmask the survivors' inputs. They are moved (each source
        // wiped) into zeroizing storage allocated at its final capacity, and every element
        // wipes itself on drop, so no reallocation leaves an unwiped copy behind.
        let mut masks = Zeroizing::new(Vec::with_capacity(
            self_masks.len().saturating_add(pairs.len()),
        ));
        masks.extend(
            self_masks
                .iter_mut()
                .filter_map(|r| r.as_mut().ok())
                .map(SeededMask::take),
        );
        let mut pairwise = self.pairwise_masks(&mask_keys, &pairs);
        first_error(&pairwise)?;
        masks.extend(
            pairwise
                .iter_mut()
                .filter_map(|r| r.as_mut().ok())
                .map(SeededMask::take),
        );
        prg::apply_masks(
            &masks,
            self.params.mask_suite(),
            modulus,
            &mut self.accumulator,
        );
        modulus.reduce_lazy(&mut self.accumulator);
        Ok(Output {
            sum: self.accumulator,
            included: self.survivors.into_iter().collect(),
            mask_expansions: masks.len(),
        })
    }

    /// `rebuild(cache, owner)` for every owner, in owner order: in parallel with the
    /// `parallel` feature, each thread with its own Lagrange cache. The results are written
    /// in place into one vector of their final length, never moved.
    fn per_owner<T: Send>(
        owners: &BTreeSet<ClientId>,
        rebuild: impl Fn(&mut LagrangeCache, ClientId) -> Result<T, Error> + Sync,
    ) -> Vec<Result<T, Error>> {
        let owners: Vec<ClientId> = owners.iter().copied().collect();
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            let mut results = Vec::with_capacity(owners.len());
            owners
                .par_iter()
                .map_init(LagrangeCache::default, |cache, &u| rebuild(cache, u))
                .collect_into_vec(&mut results);
            results
        }
        #[cfg(not(feature = "parallel"))]
        {
            let mut cache = LagrangeCache::default();
            let mut results = Vec::with_capacity(owners.len());
            results.extend(owners.iter().map(|&u| rebuild(&mut cache, u)));
            results
        }
    }

    /// The seed of survivor `u`'s self-mask, from its rebuilt and checked `b_u`.
    fn self_mask(&self, cache: &mut LagrangeCache, u: ClientId) -> Result<SeededMask, Error> {
        let session = *self.params.session();
        let b_u = self.rebuild(cache, u, |r| &r.self_mask)?;
        let committed = self.roster.get(&u).map(|e| e.self_mask_commitment);
        // SECURITY: a rebuilt seed that does not match the owner's commitment means a holder
        // sent a bad share; using it would give a wrong sum.
        let matches = committed
            .is_some_and(|c| bool::from(self_mask_commitment(&session, u, &b_u).ct_eq(&c)));
        if !matches {
            return Err(AbortReason::ReconstructionMismatch { owner: u }.into());
        }
        let seed = self_mask_prg_seed(self.params.mask_suite(), &session, u, &b_u);
        Ok(SeededMask::new(seed.bytes(), Sign::Sub))
    }

    /// Dropped client `u`'s mask key, rebuilt and checked against the key it advertised.
    fn mask_key(
        &self,
        cache: &mut LagrangeCache,
        u: ClientId,
    ) -> Result<(ClientId, SecretKey), Error> {
        let s_sk = self.rebuild(cache, u, |r| &r.key)?;
        let mask_key = SecretKey::from_scalar(s_sk.scalar());
        let advertised = self.roster.get(&u).map(|e| e.mask_public_key);
        // SECURITY: the rebuilt key must be the one the owner advertised.
        if Some(mask_key.public_key()) != advertised {
            return Err(AbortReason::ReconstructionMismatch { owner: u }.into());
        }
        Ok((u, mask_key))
    }

    /// Every (dropped, surviving neighbour) pair whose pairwise mask is in the sum: the index
    /// of the dropped client's key in `mask_keys` (all `Ok`), both ids, the survivor's key.
    fn pairs_of_dropped(
        &self,
        mask_keys: &[Result<(ClientId, SecretKey), Error>],
    ) -> Vec<(usize, ClientId, ClientId, crate::crypto::kx::PublicKey)> {
        let mut pairs = Vec::new();
        for (k, (u, _)) in mask_keys.iter().filter_map(|r| r.as_ref().ok()).enumerate() {
            let neighbours = self.graph.neighbours(*u);
            for &v in neighbours.iter().filter(|v| self.survivors.contains(v)) {
                if let Some(v_key) = self.roster.get(&v).map(|e| e.mask_public_key) {
                    pairs.push((k, *u, v, v_key));
                }
            }
        }
        pairs
    }

    /// The seed of every pairwise mask a survivor shares with a dropped neighbour, from the
    /// dropped client's rebuilt mask key. The key agreements run in parallel with the
    /// `parallel` feature, written in place like [`Unmasking::per_owner`]'s.
    fn pairwise_masks(
        &self,
        mask_keys: &[Result<(ClientId, SecretKey), Error>],
        pairs: &[(usize, ClientId, ClientId, crate::crypto::kx::PublicKey)],
    ) -> Vec<Result<SeededMask, Error>> {
        let session = *self.params.session();
        let suite = self.params.mask_suite();
        let derive =
            |&(k, u, v, v_key): &(usize, ClientId, ClientId, crate::crypto::kx::PublicKey)| {
                let mismatch = || Error::from(AbortReason::ReconstructionMismatch { owner: u });
                let (_, mask_key) = mask_keys
                    .get(k)
                    .and_then(|r| r.as_ref().ok())
                    .ok_or_else(mismatch)?;
                let seed = pairwise_prg_seed(suite, mask_key, &v_key, &session, u, v)
                    .map_err(|()| mismatch())?;
                // v added this mask with pairwise_sign(v, u); take it back out.
                Ok(SeededMask::new(seed.bytes(), pairwise_sign(v, u).flip()))
            };
        let mut masks = Vec::with_capacity(pairs.len());
        #[cfg(feature = "parallel")]
        {
            use rayon::prelude::*;
            pairs.par_iter().map(derive).collect_into_vec(&mut masks);
        }
        #[cfg(not(feature = "parallel"))]
        masks.extend(pairs.iter().map(derive));
        masks
    }

    /// Rebuilds the secret of `owner` from the first `t` of its share holders (itself and its
    /// neighbours) that responded.
    fn rebuild(
        &self,
        cache: &mut LagrangeCache,
        owner: ClientId,
        list: impl Fn(&RevealedShares) -> &BTreeMap<ClientId, SecretScalar>,
    ) -> Result<SecretScalar, Error> {
        let t = self.params.threshold();
        // The owner's share holders, in id order: itself and its neighbours (k + 1 lookups,
        // never a scan of every response).
        let candidates = self.graph.view(owner);
        let holders: Vec<(ClientId, &SecretScalar)> = candidates
            .iter()
            .filter_map(|h| {
                let share = list(self.responses.get(h)?).get(&owner)?;
                Some((*h, share))
            })
            .take(t)
            .collect();
        if holders.len() < t {
            return Err(AbortReason::TooFewSurvivors {
                round: Round::Unmasking,
                have: holders.len(),
                need: t,
            }
            .into());
        }
        let indices: Vec<_> = holders.iter().map(|(h, _)| h.share_index()).collect();
        let lagrange = cache.get(indices, t)?;
        lagrange
            .reconstruct(holders.iter().map(|(_, share)| *share))
            .map_err(|_| AbortReason::ReconstructionMismatch { owner }.into())
    }
}

/// The first error among `results`, in their order.
fn first_error<T>(results: &[Result<T, Error>]) -> Result<(), Error> {
    match results.iter().find_map(|r| r.as_ref().err()) {
        Some(e) => Err(e.clone()),
        None => Ok(()),
    }
}

/// Lagrange coefficients by set of share holders: computed once per set, reused for every
/// secret that set rebuilds (on the complete graph, one set serves every secret).
#[derive(Default)]
struct LagrangeCache(BTreeMap<Vec<ShareIndex>, Lagrange>);

impl LagrangeCache {
    fn get(&mut self, holders: Vec<ShareIndex>, t: usize) -> Result<&Lagrange, Error> {
        use alloc::collections::btree_map::Entry;
        match self.0.entry(holders) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(e) => {
                let l = Lagrange::new(e.key(), t).map_err(|_| AbortReason::TooFewSurvivors {
                    round: Round::Unmasking,
                    have: e.key().len(),
                    need: t,
                })?;
                Ok(e.insert(l))
            }
        }
    }
}
